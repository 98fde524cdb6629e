"""Non-LLM Server rows: the M/M/1 batch bound validation uses vs the simulated LoadGen dynamic
batcher (perf/scenarios.py best_server_rate), on the same service times (issue 17).

    python scripts/server_model_compare.py

Prints, per benchmark, median |error| and median signed error (%) of both. Measured values are
only compared against, never fitted. About 2-3 minutes on one core."""
import statistics as st, collections, csv, time
from importlib import resources
from tapeout.validation import other_rows as o
from tapeout.perf.scenarios import best_server_rate
from tapeout.perf.calibration import calibrated_params
from tapeout.validation.harness import predict_row
rows = list(csv.DictReader(resources.files("tapeout").joinpath("data","measured","end_to_end.csv").open()))
res = collections.defaultdict(list)
t0 = time.time()
for r in rows:
    if r.get("scenario")!="Server": continue
    k = o._bench_of(r)
    if not k or k[0]!="inf": continue
    base = predict_row(r)
    if base.skipped or base.error_pct is None: continue
    bench=k[1]
    # simulated dynamic batcher over the same batches
    chip=o._chip(r); prec=base.detail.get("compute_precision"); sw=r.get("software","")
    p=calibrated_params(chip, None)
    times={}
    for b in o.SERVER_BATCHES:
        if b > o.OFFLINE_BATCH[bench]: break
        g=o._graph(bench,b,prec,sw,o._high_accuracy(r),o.half_precision(chip))
        if not o._fits(bench,g,p): break
        times[b]=o._time(bench,g,p)
    q,_=best_server_rate(times,o.SERVER_BOUND_S[bench])
    n=int(float(r["n_accelerators"]))
    meas=float(r["value"])
    res[bench].append((base.error_pct, (n*q-meas)/meas*100))
print(time.time()-t0)
allb=[];alls=[]
for b,v in res.items():
    print(b, len(v), "mm1", round(st.median(abs(a) for a,_ in v),1), round(st.median(a for a,_ in v),1), "sim", round(st.median(abs(s) for _,s in v),1), round(st.median(s for _,s in v),1))
    allb+= [a for a,_ in v]; alls+=[s for _,s in v]
print("all", len(allb), round(st.median(map(abs,allb)),1), round(st.median(allb),1), round(st.median(map(abs,alls)),1), round(st.median(alls),1))
