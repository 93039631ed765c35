"""CPU time of compressing the facts benchmark's texts with protection on and off.

    OMP_NUM_THREADS=1 python benchmarks/protect_cost.py nano          # LLMLingua
    OMP_NUM_THREADS=1 python benchmarks/protect_cost.py nano-lingua2  # LLMLingua-2
    OMP_NUM_THREADS=1 python benchmarks/protect_cost.py nano profile  # and a cProfile of "on"

Prints, per round, the CPU seconds (``time.process_time``) of compressing every text of
``benchmarks/data/facts`` at rate 0.5 with ``protect=True`` and with ``protect=False``,
alternating, after one warm-up round of each.
"""
import json, glob, time, cProfile, pstats, warnings, sys
warnings.simplefilter("ignore")
from llmlingstral import PromptCompressor
c = PromptCompressor(sys.argv[1], device_map="cpu", use_llmlingua2=sys.argv[1].endswith("lingua2"))
texts = []
for p in sorted(glob.glob("benchmarks/data/facts/*.json")):
    d = json.load(open(p))
    texts.append("\n\n".join(d["paragraphs"]) if "paragraphs" in d else d.get("text", ""))
texts = [t for t in texts if t]
def run(protect):
    t = time.process_time()
    for x in texts: c.compress_prompt(x, rate=0.5, protect=protect)
    return time.process_time() - t
run(True); run(False)
for _ in range(4): print("on", round(run(True),2), "off", round(run(False),2))
if len(sys.argv) > 2:
    pr = cProfile.Profile(); pr.enable(); run(True); pr.disable()
    pstats.Stats(pr).sort_stats("cumulative").print_stats(25)
