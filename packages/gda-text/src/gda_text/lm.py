"""Causal language model helpers shared by the text generators, strategies and selectors.

Everything here imports torch/transformers inside the functions, so importing this
module stays cheap. Models load from a local folder or a hub id; with
``HF_HUB_OFFLINE=1`` (or a local folder) nothing is downloaded.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gda_core.errors import ConfigError
from gda_core.torch.accelerators import apply_thread_setting
from gda_core.torch.weights import safe_kwargs


def _local_only(name_or_path: str) -> bool:
    return Path(name_or_path).expanduser().is_dir() or os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")


def check_source(name_or_path: str, field: str) -> None:
    """A path-like name (absolute, ``./``, ``~``) must be an existing folder; anything else is a hub id."""
    looks_like_path = name_or_path.startswith(("/", ".", "~")) or os.sep + os.sep in name_or_path
    if looks_like_path and not Path(name_or_path).expanduser().is_dir():
        raise ConfigError(f"{field}: {name_or_path} is not a folder")


def load_tokenizer(name_or_path: str, field: str = "generator.params.model") -> Any:
    """A tokenizer that pads on the left (for batched generation) and has a pad token."""
    from transformers import AutoTokenizer

    check_source(name_or_path, field)

    try:
        tok = AutoTokenizer.from_pretrained(str(Path(name_or_path).expanduser()) if Path(name_or_path).expanduser()
                                            .is_dir() else name_or_path, local_files_only=_local_only(name_or_path))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{field}: cannot load a tokenizer from {name_or_path!r}: {exc}") from exc
    return prepare_tokenizer(tok)


def prepare_tokenizer(tok: Any) -> Any:
    tok.padding_side = "left"
    if tok.pad_token is None:
        if tok.eos_token is not None:
            tok.pad_token = tok.eos_token
        else:
            tok.add_special_tokens({"pad_token": "<pad>"})
    return tok


def load_causal_lm(name_or_path: str, *, device: str = "cpu", dtype: Any = None,
                   field: str = "generator.params.model") -> Any:
    """A causal LM from a local folder or hub id, in eval mode on ``device``."""
    from transformers import AutoModelForCausalLM

    path = Path(name_or_path).expanduser()
    src = str(path) if path.is_dir() else name_or_path
    try:
        model = AutoModelForCausalLM.from_pretrained(src, local_files_only=_local_only(name_or_path),
                                                     dtype=dtype, **safe_kwargs(transformers=True))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{field}: cannot load a causal language model from {name_or_path!r}: {exc}") from exc
    return model.to(device).eval()


def train_tokenizer(texts: Sequence[str], vocab_size: int = 2000) -> Any:
    """A byte-level BPE tokenizer trained on ``texts`` (any string stays encodable)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<|endoftext|>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>", pad_token="<pad>")
    return prepare_tokenizer(fast)


def build_gpt2(tokenizer: Any, *, n_layer: int, n_embd: int, n_head: int, n_positions: int, seed: int) -> Any:
    """A randomly initialised GPT-2 model sized for ``tokenizer``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
                        n_head=n_head, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.pad_token_id)
    return GPT2LMHeadModel(config)


def max_positions(model: Any) -> int | None:
    """The longest sequence the model's position embeddings allow (None if unbounded or unknown)."""
    config = getattr(model, "config", None)
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def with_bos(tokenizer: Any, ids: list[int]) -> list[int]:
    """``ids`` led by the tokenizer's bos token (once), so a sequence start looks the same in
    training, scoring and sampling."""
    bos = tokenizer.bos_token_id
    if bos is None or (ids and ids[0] == bos):
        return list(ids)
    return [bos, *ids]


def encode_for_training(tokenizer: Any, texts: Sequence[str], max_length: int,
                        prompts: Sequence[str] | None = None) -> Any:
    """Token ids of ``prompt + text + eos`` per text, with labels masked on the prompt (and padding)."""
    eos = tokenizer.eos_token or ""
    rows = []
    for i, text in enumerate(texts):
        prompt = prompts[i] if prompts is not None else ""
        p_ids = with_bos(tokenizer, tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else [])
        t_ids = tokenizer(text + eos, add_special_tokens=False)["input_ids"]
        ids = (p_ids + t_ids)[:max_length]
        labels = ([-100] * len(p_ids) + t_ids)[:max_length]
        rows.append((ids, labels))
    return rows


def _collate(rows, pad_id: int):
    import torch

    n = max(len(ids) for ids, _ in rows)
    input_ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), n), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), n), dtype=torch.long)
    for i, (ids, lab) in enumerate(rows):  # right padding for training
        input_ids[i, :len(ids)] = torch.tensor(ids)
        labels[i, :len(lab)] = torch.tensor(lab)
        mask[i, :len(ids)] = 1
    return input_ids, mask, labels


def _train_causal_lm(model, tokenizer, texts: Sequence[str], *, prompts: Sequence[str] | None = None, epochs: int,
                    lr: float, batch_size: int, max_length: int, seed: int, context=None, desc: str = "train LM",
                    weight_decay: float = 0.0, warmup: float = 0.05) -> list[float]:
    """Next-token training (AdamW, linear warm-up then cosine decay) on the trainable parameters.

    Returns the mean loss of each epoch.
    """
    import torch

    device = next(model.parameters()).device
    rows = encode_for_training(tokenizer, texts, min(max_length, max_positions(model) or max_length), prompts)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ConfigError("the model has no trainable parameters")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    steps_per_epoch = math.ceil(len(rows) / batch_size)
    total = max(1, epochs * steps_per_epoch)
    n_warm = max(1, int(warmup * total))

    def schedule(step: int) -> float:
        if step < n_warm:
            return (step + 1) / n_warm
        return 0.5 * (1 + math.cos(math.pi * (step - n_warm) / max(1, total - n_warm)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    torch.manual_seed(seed)
    model.train()
    history = []
    epochs_iter = range(epochs) if context is None else context.progress(range(epochs), desc=desc, total=epochs)
    use_autocast = device.type == "cuda" and next(model.parameters()).dtype == torch.float32 \
        and torch.cuda.is_bf16_supported()
    for _ in epochs_iter:
        order = torch.randperm(len(rows), generator=gen).tolist()
        losses = []
        for b in range(0, len(order), batch_size):
            input_ids, mask, labels = _collate([rows[i] for i in order[b:b + batch_size]], tokenizer.pad_token_id)
            input_ids, mask, labels = input_ids.to(device), mask.to(device), labels.to(device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_autocast):
                loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            losses.append(float(loss.detach()))
        history.append(sum(losses) / len(losses))
    model.eval()
    return history


def _generate_continuations(model, tokenizer, prompts: Sequence[str], *, seed: int, max_new_tokens: int,
                           temperature: float, top_p: float, top_k: int, repetition_penalty: float,
                           batch_size: int, context=None, desc: str = "generate") -> list[str]:
    """Sampled continuations of ``prompts``: batched, left padded, deterministic given ``seed``."""
    import torch

    device = next(model.parameters()).device
    out: list[str] = []
    batches = list(range(0, len(prompts), batch_size))
    it = batches if context is None else context.progress(batches, desc=desc, total=len(batches))
    tokenizer.padding_side = "left"
    for bi, start in enumerate(it):
        chunk = list(prompts[start:start + batch_size])
        ids = [with_bos(tokenizer, tokenizer(p, add_special_tokens=False)["input_ids"]) for p in chunk]
        if any(not row for row in ids):
            raise ConfigError("an empty prompt needs a tokenizer with a bos token")
        new_tokens = max_new_tokens
        limit = max_positions(model)
        if limit is not None:  # keep prompt + sample inside the position embeddings
            longest = max(len(row) for row in ids)
            new_tokens = max(1, min(max_new_tokens, max(limit // 2, limit - longest)))
            ids = [row[-(limit - new_tokens):] for row in ids]
        enc = tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        enc = {k: v.to(device) for k, v in enc.items()}
        torch.manual_seed(seed * 100003 + bi)
        if device.type == "cuda":
            torch.cuda.manual_seed_all(seed * 100003 + bi)
        kwargs: dict[str, Any] = {"max_new_tokens": new_tokens, "pad_token_id": tokenizer.pad_token_id,
                                  "eos_token_id": tokenizer.eos_token_id}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=top_k)
        else:
            kwargs.update(do_sample=False)
        if repetition_penalty != 1.0:
            kwargs["repetition_penalty"] = repetition_penalty
        with torch.no_grad():
            ids = model.generate(**enc, **kwargs)
        new = ids[:, enc["input_ids"].shape[1]:]
        out.extend(tokenizer.batch_decode(new, skip_special_tokens=True))
    return out


def _text_nll(model, tokenizer, texts: Sequence[str], *, prompts: Sequence[str] | None = None,
             batch_size: int = 16, max_length: int = 256) -> list[float]:
    """Mean negative log-likelihood per token of each text (given its prompt) under ``model``."""
    import torch

    device = next(model.parameters()).device
    rows = encode_for_training(tokenizer, texts, min(max_length, max_positions(model) or max_length), prompts)
    out: list[float] = []
    for b in range(0, len(rows), batch_size):
        input_ids, mask, labels = _collate(rows[b:b + batch_size], tokenizer.pad_token_id)
        input_ids, mask, labels = input_ids.to(device), mask.to(device), labels.to(device)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=mask).logits.float()
        logp = torch.log_softmax(logits[:, :-1], dim=-1)
        tgt = labels[:, 1:]
        valid = tgt != -100
        tok = torch.gather(logp, 2, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)
        nll = -(tok * valid).sum(1) / valid.sum(1).clamp(min=1)
        out.extend(nll.cpu().tolist())
    return out


def train_causal_lm(model: Any, tokenizer: Any, texts: Sequence[str], **kwargs: Any) -> list[float]:
    """Next-token training (AdamW, linear warm-up then cosine decay) of the trainable parameters;
    ``prompts`` (one per text) are conditioned on but not trained on. Returns each epoch's mean loss."""
    apply_thread_setting()
    return _train_causal_lm(model, tokenizer, texts, **kwargs)


def generate_continuations(model: Any, tokenizer: Any, prompts: Sequence[str], **kwargs: Any) -> list[str]:
    """Sampled continuations of ``prompts``: batched, left padded, deterministic given ``seed``."""
    apply_thread_setting()
    return _generate_continuations(model, tokenizer, prompts, **kwargs)


def text_nll(model: Any, tokenizer: Any, texts: Sequence[str], **kwargs: Any) -> list[float]:
    """Mean negative log-likelihood per token of each text (given its ``prompts``) under ``model``."""
    apply_thread_setting()
    return _text_nll(model, tokenizer, texts, **kwargs)
