"""pyHanko's validation rate for one PDF, for the documents benchmark (benches/docs.rs) to print
beside Körpü's figure for the same file.

Each validation does what a validating service does per document: parse the PDF, read its DSS
(the embedded certificates, OCSP responses and CRLs) into a fresh validation context that
requires revocation data and fetches nothing, and validate every signature (integrity,
signature value, time-stamp, chain to ANCHOR, revocation). Every signature must pass, or the
run fails: a rate of refusals would compare nothing.

WORKERS processes (Python runs one thread at a time) share N validations; the time measured is
the wall time of the loops, after each worker has imported pyHanko and validated the file once.

Usage: python3 pyhanko_validate.py FILE.pdf ANCHOR.pem N WORKERS
Prints one JSON object: {"validations": N, "workers": W, "seconds": S, "per_second": R}.
"""
import json
import multiprocessing as mp
import sys
import time
from io import BytesIO

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore


def validate_once(data, anchor):
    reader = PdfFileReader(BytesIO(data))
    vc = DocumentSecurityStore.read_dss(reader).as_validation_context(
        {"trust_roots": [anchor], "allow_fetching": False, "revocation_mode": "require"}
    )
    n = 0
    for sig in reader.embedded_signatures:
        st = validate_pdf_signature(sig, vc)
        if not st.bottom_line:
            raise SystemExit(f"pyHanko does not accept {sig.field_name}:\n{st.pretty_print_details()}")
        n += 1
    if n == 0:
        raise SystemExit("no signature in the file")


def worker(args):
    path, anchor_path, count, start = args
    with open(path, "rb") as f:
        data = f.read()
    anchor = load_cert_from_pemder(anchor_path)
    validate_once(data, anchor)  # warm-up, not timed
    start.wait()
    t = time.perf_counter()
    for _ in range(count):
        validate_once(data, anchor)
    return t, time.perf_counter()


def main():
    path, anchor_path, n, workers = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    counts = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
    with mp.Manager() as m:
        start = m.Barrier(workers)
        with mp.Pool(workers) as pool:
            spans = pool.map(worker, [(path, anchor_path, c, start) for c in counts])
    seconds = max(e for _, e in spans) - min(s for s, _ in spans)
    print(json.dumps({"validations": n, "workers": workers, "seconds": seconds, "per_second": n / seconds}))


if __name__ == "__main__":
    main()
