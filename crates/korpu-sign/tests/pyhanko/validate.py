"""Validates every signature of a PDF with pyHanko and prints one JSON object per signature.

Usage: python3 validate.py FILE.pdf ROOT.pem
Offline: no fetching of certificates or revocation data; the trust root is the only anchor.
"""
import json
import sys

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

pdf, root = sys.argv[1], sys.argv[2]
vc = ValidationContext(
    trust_roots=[load_cert_from_pemder(root)],
    allow_fetching=False,
    revocation_mode="soft-fail",
)
with open(pdf, "rb") as f:
    reader = PdfFileReader(f)
    sigs = reader.embedded_signatures
    if not sigs:
        print(json.dumps({"error": "no signatures"}))
    for sig in sigs:
        st = validate_pdf_signature(sig, vc)
        ts = st.timestamp_validity
        print(
            json.dumps(
                {
                    "field": sig.field_name,
                    "intact": st.intact,
                    "valid": st.valid,
                    "trusted": st.trusted,
                    "bottom_line": st.bottom_line,
                    "coverage": str(st.coverage),
                    "modification_level": str(st.modification_level),
                    "timestamped": ts is not None,
                    "timestamp_ok": bool(ts and ts.intact and ts.valid and ts.trusted),
                    "signer": st.signing_cert.subject.human_friendly,
                    "summary": st.summary(),
                }
            )
        )
