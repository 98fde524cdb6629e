"""Per-run fixed cost microbenchmark (issue-18 notes, Round stop-25 issue-25lc): time to the first batch of a
spawn-context DataLoader with one persistent worker (process spawn + import torch in the child), as NeMo's LoRA
config builds it (num_workers 1, multiprocessing_context spawn, persistent_workers). No end-to-end row is read."""
import time, torch
from torch.utils.data import DataLoader, Dataset
class D(Dataset):
    def __len__(self): return 64
    def __getitem__(self, i): return torch.zeros(8192, dtype=torch.long)
if __name__ == "__main__":
    for rep in range(3):
        dl = DataLoader(D(), batch_size=1, num_workers=1, multiprocessing_context="spawn", persistent_workers=True, pin_memory=False)
        t = time.perf_counter(); it = iter(dl); next(it); t1 = time.perf_counter() - t
        t = time.perf_counter(); next(it); t2 = time.perf_counter() - t
        print(f"first batch (spawn + import torch in the worker) {t1:.2f} s, next {t2*1e3:.2f} ms")
        del it, dl
