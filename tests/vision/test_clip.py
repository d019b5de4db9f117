import numpy as np
import pytest

from gda_core.errors import ConfigError
from gda_vision.embedders.clip import CLIPEmbedder
from gda_vision.selectors.clip_filter import CLIPFilterSelector

from .helpers import make_context, toy_bars


def _reference(path, records, prompts):
    """CLIP similarities computed directly with transformers, to check the selector's score."""
    import torch
    from transformers import CLIPModel, CLIPProcessor

    from gda_vision._images import to_pil

    model, proc = CLIPModel.from_pretrained(path).eval(), CLIPProcessor.from_pretrained(path)
    with torch.no_grad():
        inputs = proc(text=prompts, images=[to_pil(r.data).convert("RGB") for r in records],
                      return_tensors="pt", padding=True)
        out = model(**inputs)
    img = torch.nn.functional.normalize(out.image_embeds, dim=-1)
    txt = torch.nn.functional.normalize(out.text_embeds, dim=-1)
    return (img @ txt.T).numpy()


def test_clip_filter_scores_are_clip_similarities_and_keep_the_top_half(tiny_clip_path):
    train = toy_bars(3, seed=0)
    synthetic = toy_bars(6, seed=1).records
    sel = CLIPFilterSelector(model=tiny_clip_path, prompt="a photo of {label}", device="cpu")
    ctx = make_context(train)
    sel.fit(train, ctx)
    scores = sel.score(synthetic, ctx)
    sims = _reference(tiny_clip_path, synthetic, ["a photo of h", "a photo of v"])
    expected = np.array([sims[i, 0 if r.label == "h" else 1] for i, r in enumerate(synthetic)])
    assert np.allclose(scores, expected, atol=1e-4)
    keep = sel.select(scores, synthetic, ctx)
    for label in ("h", "v"):
        idx = [i for i, r in enumerate(synthetic) if r.label == label]
        kept = [i for i in idx if keep[i]]
        assert len(kept) == 3
        assert min(scores[kept]) >= max(scores[[i for i in idx if not keep[i]]])


def test_clip_filter_probability_score_sums_to_one_over_classes(tiny_clip_path):
    train = toy_bars(2, seed=0)
    sel = CLIPFilterSelector(model=tiny_clip_path, score="probability", device="cpu")
    sel.fit(train, make_context(train))
    recs = train.records
    flipped = [r.__class__(id=r.id + "x", data=r.data, label="v" if r.label == "h" else "h") for r in recs]
    p = sel.score(recs, None) + sel.score(flipped, None)
    assert np.allclose(p, 1.0, atol=1e-5)


def test_clip_embedder(tiny_clip_path):
    train = toy_bars(2, seed=0)
    emb = CLIPEmbedder(model=tiny_clip_path, device="cpu")
    emb.fit(train, make_context(train))
    z = emb.embed(train.records, None)
    assert z.shape == (4, 16) and np.allclose(np.linalg.norm(z, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(z, emb.embed(train.records, None))
    with pytest.raises(ConfigError, match="embedder.params.model"):
        CLIPEmbedder().fit(train, make_context(train))
    with pytest.raises(ConfigError, match="clip-filter.params.model"):
        CLIPFilterSelector(model="/nonexistent/clip").fit(train, make_context(train))
