"""Small data sets and contexts shared by the vision tests."""

from __future__ import annotations

import functools
import tempfile


def toy_bars(n_per_class: int = 24, size: int = 8, seed: int = 0):
    """A planted two-class image set: a horizontal bar ('h') or a vertical bar ('v') at a
    random position, on faint noise; ``(C, H, W)`` arrays in [0, 1]."""
    import numpy as np

    from gda_core.records import Dataset, Record

    rng = np.random.default_rng(seed)
    recs = []
    for label in ("h", "v"):
        for i in range(n_per_class):
            img = rng.uniform(0, 0.1, size=(size, size)).astype(np.float32)
            pos = int(rng.integers(1, size - 2))
            if label == "h":
                img[pos:pos + 2, 1:-1] = 0.9
            else:
                img[1:-1, pos:pos + 2] = 0.9
            recs.append(Record(id=f"{label}-{i:03d}", data=img[None], label=label))
    return Dataset(recs, modality="image", classes=["h", "v"])


def make_context(train, test=None, seed=0):
    from gda_core.context import RunContext

    return RunContext(train=train, test=test, seed=seed, quiet=True)


# --- tiny randomly initialised checkpoints, saved once and loaded back by path ---


def _temporary_folder(prefix: str) -> str:
    """A temporary folder removed when the process exits."""
    import atexit
    import shutil

    path = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, path, True)
    return path


def _tiny_tokenizer():
    import string

    from transformers import CLIPTokenizer

    chars = list(string.ascii_lowercase + string.digits)
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    merges = [("p", "h"), ("o", "t"), ("o", "f</w>")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=16)


@functools.cache
def tiny_sd() -> str:
    """A Stable Diffusion pipeline folder of a few thousand random parameters (16 x 16 images),
    saved once per process into a temporary folder."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16, norm_num_groups=4, attention_head_dim=4)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1, latent_channels=4,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), norm_num_groups=4, sample_size=16)
    tokenizer = _tiny_tokenizer()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_attention_heads=2,
        num_hidden_layers=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    path = _temporary_folder("gda-tiny-sd-")
    pipe.save_pretrained(path)
    return str(path)


@functools.cache
def tiny_clip() -> str:
    """A CLIP model + processor folder of a few thousand random parameters (16 x 16 input), saved
    once per process into a temporary folder."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    torch.manual_seed(0)
    tokenizer = _tiny_tokenizer()
    config = CLIPConfig(
        text_config=dict(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_attention_heads=2,
                         num_hidden_layers=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_attention_heads=2, num_hidden_layers=2,
                           image_size=16, patch_size=4),
        projection_dim=16)
    model = CLIPModel(config)
    processor = CLIPProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 16},
                                                                 crop_size={"height": 16, "width": 16}),
                              tokenizer=tokenizer)
    path = _temporary_folder("gda-tiny-clip-")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)
