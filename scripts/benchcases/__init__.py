"""The cases of scripts/bench.py, one module each (protocol, collection, memory, many); alongside.py times a
hand-written loop in lock-step with an nfields run, common.py runs `train()` for every case. The hand-written
baselines they compare against are in scripts/baselines/ (plain PyTorch, no nfields import)."""
