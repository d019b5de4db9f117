import pytest

from gda_core.testing import restrict_plugins

_plugins_for_module, _plugins_for_test = restrict_plugins("gda-vision")


# --- tiny randomly initialised checkpoints, saved once per session and loaded back by path ---


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


@pytest.fixture(scope="session")
def tiny_sd_path(tmp_path_factory):
    """A Stable Diffusion pipeline folder of a few thousand random parameters (16 x 16 images)."""
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
    path = tmp_path_factory.mktemp("tiny-sd")
    pipe.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session")
def tiny_clip_path(tmp_path_factory):
    """A CLIP model + processor folder of a few thousand random parameters (16 x 16 input)."""
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
    path = tmp_path_factory.mktemp("tiny-clip")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The tiny models gain nothing from threads; on a shared 2-core machine one thread was ~4x faster."""
    import os

    os.environ.setdefault("GDA_TORCH_THREADS", "1")
    yield
