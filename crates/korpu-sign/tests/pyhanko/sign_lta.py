"""Signs a PDF with pyHanko at PAdES B-LTA: a signature time-stamp, the validation data
(fetched by pyHanko from the OCSP responder its certificates name) in the DSS, then a
document time-stamp.

Usage: python3 sign_lta.py IN.pdf OUT.pdf KEY.pem CERT.pem CHAIN.pem ROOT.pem TSA_URL
"""
import sys

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko_certvalidator import ValidationContext

inp, out, key, cert, chain, root, tsa = sys.argv[1:8]
signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(chain,))
vc = ValidationContext(
    trust_roots=[load_cert_from_pemder(root)],
    other_certs=[load_cert_from_pemder(chain)],
    allow_fetching=True,
)
meta = signers.PdfSignatureMetadata(
    field_name="PyHanko",
    subfilter=fields.SigSeedSubFilter.PADES,
    embed_validation_info=True,
    use_pades_lta=True,
    validation_context=vc,
)
with open(inp, "rb") as f:
    w = IncrementalPdfFileWriter(f)
    with open(out, "wb") as o:
        signers.sign_pdf(
            w, meta, signer=signer, timestamper=timestamps.HTTPTimeStamper(tsa), output=o
        )
