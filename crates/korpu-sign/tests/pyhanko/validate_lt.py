"""Validates every signature of a PDF with pyHanko using only the validation data in the file's
DSS, read by pyHanko itself: revocation data is required for every certificate ("require") and nothing may be
fetched, so a signature passes only if the file holds OCSP responses for its certificates.
Prints one JSON object per signature.

Usage: python3 validate_lt.py FILE.pdf ANCHOR.pem
(ANCHOR is the CA that issued the signer and TSA certificates, so that revocation data is
needed for exactly the certificates a B-LT signer embeds.)
"""
import json
import sys

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko_certvalidator import ValidationContext

pdf, anchor = sys.argv[1], sys.argv[2]
kwargs = {
    "trust_roots": [load_cert_from_pemder(anchor)],
    "allow_fetching": False,
    "revocation_mode": "require",
}
with open(pdf, "rb") as f:
    reader = PdfFileReader(f)
    try:
        vc = DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)
        dss = True
    except NoDSSFoundError:
        # No DSS: an empty set of responses, so pyHanko judges (and refuses) rather than
        # refusing to start.
        vc = ValidationContext(ocsps=[], crls=[], **kwargs)
        dss = False
    for sig in reader.embedded_signatures:
        try:
            st = validate_pdf_signature(sig, vc)
            out = {
                "field": sig.field_name,
                "dss": dss,
                "bottom_line": st.bottom_line,
                "revoked": st.revoked,
                "summary": st.summary(),
                "details": "" if st.bottom_line else st.pretty_print_details(),
            }
        except Exception as e:
            out = {"field": sig.field_name, "dss": dss, "bottom_line": False, "error": repr(e)}
        print(json.dumps(out))
