"""python -m bench [NAME...]: run every bench/bench_*.py's main() in turn (`make bench`).

With NAMEs, only the benches whose topic contains one of them (`python -m bench tcpserver pop3`).
Each bench runs ours and its peer in the same run and prints its own ratios; a bench that fails
or skips (a peer missing) is reported and the others still run. Exit 1 if any bench failed.
"""
import importlib
import sys
import time
import traceback
from pathlib import Path


def benches(names: list[str]) -> list[str]:
    here = Path(__file__).resolve().parent
    topics = sorted(p.stem for p in here.glob("bench_*.py"))
    if names:
        topics = [t for t in topics if any(n in t for n in names)]
    return topics


def main(argv: list[str] | None = None) -> int:
    names = sys.argv[1:] if argv is None else argv
    topics = benches(names)
    if not topics:
        print("bench: no bench/bench_*.py" + (" matched" if names else " yet"), file=sys.stderr)
        return 1 if names else 0
    failed = []
    for topic in topics:
        print(f"=== {topic}", flush=True)
        started = time.monotonic()
        try:
            status = importlib.import_module(f"bench.{topic}").main()
        except SystemExit as e:
            status = e.code
        except KeyboardInterrupt:
            print("bench: interrupted", file=sys.stderr)
            return 130
        except Exception:
            traceback.print_exc()
            status = 1
        took = time.monotonic() - started
        if status not in (None, 0):
            failed.append(topic)
            print(f"=== {topic}: FAILED (status {status}) after {took:.1f} s", flush=True)
        else:
            print(f"=== {topic}: done in {took:.1f} s", flush=True)
    if failed:
        print("bench: failed: " + " ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
