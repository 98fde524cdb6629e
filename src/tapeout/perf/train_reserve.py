"""Device memory a training framework cannot give to tensors: the terms between the capacity the
runtime reports (hardware/memory_capacity.py) and what the model's weights, gradients, optimizer
state and activations (perf/train_memory.py) may use. Replaces the old unsourced flat 0.92.

Terms per device (bytes):
- CUDA context and library modules (cuBLAS, cuDNN, NCCL, TE kernels loaded into the context):
  ASSUMPTION, CONTEXT_BYTES; no document sizes it (it depends on driver, lazy module loading and the
  libraries linked). vLLM's profiler measures 0.11-0.26 GiB of "non_torch_memory" on 80 GB parts at
  TP1 (public logs, 'non_torch_memory takes'), which excludes the context created before its
  baseline, so the total is larger; 0.5 GiB is shown as the assumption it is.
- GEMM workspace: Transformer Engine allocates one cuBLASLt workspace of 32 MiB on compute
  capability >= 9 and 4 MiB before it (`get_cublas_workspace_size_bytes`, TE
  transformer_engine/pytorch/cpp_extensions/gemm.py); the larger value is used for every chip.
- NCCL communicator buffers: per connection and channel one buffer per protocol, Simple
  NCCL_BUFFSIZE = 4 MiB (NCCL docs, env var NCCL_BUFFSIZE, default 4194304), LL128
  NCCL_LL128_ELEMS_PER_THREAD 120 x NCCL_LL128_MAX_NTHREADS 640 x NCCL_STEPS 8 x 8 B = 4,915,200 B
  and LL NCCL_LL_LINES_PER_THREAD 8 x NCCL_LL_MAX_NTHREADS 512 x NCCL_STEPS 8 x 16 B = 524,288 B
  (NCCL src/init.cc DEFAULT_*BUFFSIZE with the constants of src/include/device.h); a ring has two
  peers (previous and next rank) per channel; NCCL logs on NVLink nodes show 32 collective / p2p
  channels ("32 coll channels, ... 32 p2p channels per peer", public NCCL INFO logs; 32 is also
  MAXCHANNELS of NCCL 2.x). One communicator per parallel dimension of size > 1 (TP, CP, DP, PP,
  EP): Megatron-Core builds one process group per dimension (parallel_state.initialize_model_parallel)
  and NCCL connects a group's buffers at its first collective. The channel count is a reading of
  NVLink nodes; a chip whose collective library uses fewer channels holds less.
- Caching-allocator fragmentation: a share of the allocator's pool that cached, split blocks leave
  unusable. GMLake (Guo et al., ASPLOS 2024, Table/abstract) measures an average 9.2 GB (up to 25 GB)
  of an 80 GB A100 recovered from PyTorch's caching allocator across eight LLMs trained with
  recompute / ZeRO / LoRA: 9.2 / 80 = 0.115 of the pool. A measurement of one stack (PyTorch caching
  allocator without expandable segments, those strategies); shown as an assumption for others.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hardware.memory_capacity import GIB

MIB = 2 ** 20

CONTEXT_BYTES = 0.5 * GIB  # assumption (module docstring)
GEMM_WORKSPACE_BYTES = 32 * MIB  # TE cuBLASLt workspace, compute capability >= 9
NCCL_SIMPLE_BYTES = 4 * MIB  # NCCL_BUFFSIZE default
NCCL_LL128_BYTES = 120 * 640 * 8 * 8  # DEFAULT_LL128_BUFFSIZE = 4,915,200 B
NCCL_LL_BYTES = 8 * 512 * 8 * 16  # DEFAULT_LL_BUFFSIZE = 524,288 B
NCCL_CHANNELS = 32  # NCCL INFO logs on NVLink nodes; NCCL 2.x MAXCHANNELS
RING_PEERS = 2  # previous and next rank of each ring channel
FRAGMENTATION = 9.2 / 80.0  # GMLake mean recovered memory on A100-80GB (module docstring)


def nccl_communicator_bytes(channels: int = NCCL_CHANNELS, peers: int = RING_PEERS) -> float:
    """Buffers one NCCL communicator holds on a rank: channels x peers x (Simple + LL128 + LL)."""
    return channels * peers * (NCCL_SIMPLE_BYTES + NCCL_LL128_BYTES + NCCL_LL_BYTES)


def communicators(layout) -> int:
    """Process groups of size > 1 a rank of `layout` (TrainLayout) runs collectives in."""
    return sum(1 for n in (layout.tp, layout.cp, layout.dp, layout.pp, layout.ep) if int(n) > 1)


@dataclass(frozen=True)
class Reserve:
    """What a training process keeps out of the tensors' reach on one device, bytes."""

    context: float
    workspace: float
    nccl: float
    fragmentation: float  # share of the remaining pool

    def usable(self, capacity: float) -> float:
        """Bytes left for the model's tensors out of the runtime's `capacity`."""
        pool = capacity - self.context - self.workspace - self.nccl
        return max(0.0, pool * (1.0 - self.fragmentation))

    def as_dict(self, capacity: float) -> dict:
        return {"capacity_gib": capacity / GIB, "cuda_context_gib (assumption)": self.context / GIB,
                "gemm_workspace_gib": self.workspace / GIB, "nccl_buffers_gib": self.nccl / GIB,
                "allocator_fragmentation_share (assumption: GMLake A100 mean)": self.fragmentation,
                "usable_gib": self.usable(capacity) / GIB}


def training_reserve(layout) -> Reserve:
    """The reserve of one rank of `layout` (module docstring)."""
    return Reserve(CONTEXT_BYTES, GEMM_WORKSPACE_BYTES, communicators(layout) * nccl_communicator_bytes(), FRAGMENTATION)
