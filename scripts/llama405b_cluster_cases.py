"""The Llama-3.1-405B 16k-H100 case on the default fabric and on meta-rsc-24k, at the search's layout and at
Meta's (TP8 PP16 CP1), with both rank orders: step, MFU and the breakdown (docs/notes/issue-18.md, Round
stop-22 issue-22sg). Run: PYTHONPATH=src python scripts/llama405b_cluster_cases.py"""
import json, sys
from tapeout.perf.training import train
args=('llama-3.1-405b','h100-sxm',16384,16777216,8192,'bf16')
rows=[]
for cl,ro in ((None,None),('meta-rsc-24k',None),('meta-rsc-24k','tp,cp,dp,pp')):
  for lab,kw in (("search",{}),("Meta TP8 PP16 CP1",{'tp':8,'pp':16,'cp':1})):
    r=train(*args,cluster=cl,rank_order=ro,**kw); b=r.breakdown; e=b['exposed_comm_s']
    slots=b['m']+(r.layout['pp']-1)/r.layout['vp']
    rows.append(dict(fabric=cl or 'non-blocking', order=ro or ('tp,cp,pp,dp' if cl else 'tp,cp,dp,pp'), case=lab, layout=r.parallelism,
      step=r.step_time_s, mfu=r.mfu, mem=r.memory_gib_per_chip, FB=b['m']*(b['F']+b['B']), bubble_s=(slots-b['m'])*(b['F']+b['B']),
      share=b.get('zone_share'), t_dp=b['t_dp'], **{k:v for k,v in e.items() if v}))
for x in rows:
    print(" | ".join(f"{k}={v:.4g}" if isinstance(v,float) else f"{k}={v}" for k,v in x.items()))
