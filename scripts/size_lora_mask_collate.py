"""Host data-path microbenchmark for the v4.0 NeMo Llama-2-70B LoRA runs (issue-18 notes, Round stop-29
issue-29cp). No end-to-end row is read; the numbers are this host's.

The runs' config (training_results_v4.0 NVIDIA llama2_70b_lora conf/megatron_gpt_peft_tuning_config.yaml) sets
packed_sequence_return_cu_seqlen False, num_workers 1, pin_memory True, multiprocessing_context spawn; NeMo's
build_data_loader makes the worker persistent. So NeMo's GPTSFTPackedDataset.collate_fn (NeMo 2.0.0rc0
gpt_sft_dataset.py: numpy concatenations, list padding, torch.LongTensor, and per sample
`torch.tril(torch.ones((max_length, max_length))).unsqueeze(0) < 0.5`, torch.stack) runs in one worker process
per rank, single-threaded (PyTorch's worker loop sets torch.set_num_threads(1)), and ships the 8192 x 8192 bool
mask to the trainer through shared memory (MegatronGPTModel drops it before the GPU: get_attention_mask_from_fusion
defaults True). With two batches prefetched, the step cannot be shorter than the worker's time per batch
(samples per rank per step x this per-sample time); each evaluation restarts the persistent validation worker's
iterator and waits for its first batch.

Prints: the mask ops alone, one thread; the worker's steady time per batch (shared-memory transfer included);
the first batch after an iterator restart. Usage: python scripts/size_lora_mask_collate.py [seq_len] [samples_per_batch]"""
import sys, time
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

SEQ = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
PER_BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 1


def mask(n: int) -> torch.Tensor:
    return torch.tril(torch.ones((n, n))).unsqueeze(0) < 0.5


class Packed(Dataset):
    """Packed rows of a few documents each, as scripts/convert_dataset.py writes them (input_ids, loss_mask)."""

    def __len__(self):
        return 256

    def __getitem__(self, i):
        bounds = [0, SEQ // 4, SEQ // 2, 3 * SEQ // 4, SEQ + 1]
        return {"input_ids": np.arange(SEQ + 1, dtype=np.int64), "seq_boundaries": bounds,
                "loss_mask": np.ones(SEQ + 1, dtype=np.int64)}


def collate(batch):
    """The NeMo 2.0.0rc0 packed collate's work (return_cu_seqlen False): concatenations, lists, tensors, masks."""
    def cat(item, lo, hi):
        b = item["seq_boundaries"]
        return np.concatenate([item["input_ids"][b[i] + lo: b[i + 1] - hi] for i in range(len(b) - 1)])
    ids = [cat(x, 0, 1).tolist() for x in batch]
    labels = [cat(x, 1, 0).tolist() for x in batch]
    loss = [np.concatenate([x["loss_mask"][x["seq_boundaries"][i] + 1: x["seq_boundaries"][i + 1]]
                            for i in range(len(x["seq_boundaries"]) - 1)]).tolist() for x in batch]
    pos = []
    for x in batch:
        pos.append([])
        for n in np.diff(x["seq_boundaries"]):
            pos[-1].extend(list(range(n - 1)))
    n = SEQ
    pad = lambda rows: [r + [0] * (n - len(r)) for r in rows]
    return {"tokens": torch.LongTensor(pad(ids)), "labels": torch.LongTensor(pad(labels)),
            "loss_mask": torch.LongTensor(pad(loss)), "position_ids": torch.LongTensor(pad(pos)),
            "attention_mask": torch.stack([mask(n) for _ in batch])}


if __name__ == "__main__":
    torch.set_num_threads(1)
    ts = []
    for _ in range(3):
        t = time.perf_counter(); torch.stack([mask(SEQ)]); ts.append(time.perf_counter() - t)
    print(f"mask ops, one sample, one thread: min {min(ts)*1e3:.0f} ms")
    dl = DataLoader(Packed(), batch_size=PER_BATCH, num_workers=1, multiprocessing_context="spawn",
                    persistent_workers=True, pin_memory=False, collate_fn=collate)
    it = iter(dl); next(it)  # the spawn itself: scripts/size_loader_spawn.py
    t = time.perf_counter()
    for _ in range(6):
        next(it)  # the trainer asks faster than the worker delivers: the worker's steady rate
    per = (time.perf_counter() - t) / 6
    print(f"worker steady: {per*1e3:.0f} ms per batch of {PER_BATCH} ({per / PER_BATCH * 1e3:.0f} ms per sample)")
    for _ in range(2):
        it = iter(dl)  # what each evaluation does to the persistent validation worker
        t = time.perf_counter(); next(it)
        print(f"restart -> first batch {(time.perf_counter() - t)*1e3:.0f} ms")
