"""Signs a PDF with pyHanko (PAdES, ETSI.CAdES.detached) as an incremental update.

Usage: python3 sign.py IN.pdf OUT.pdf KEY.pem CERT.pem CHAIN.pem [TSA_URL]
"""
import sys

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps

inp, out, key, cert, chain = sys.argv[1:6]
tsa = sys.argv[6] if len(sys.argv) > 6 else None
signer = signers.SimpleSigner.load(key, cert, ca_chain_files=(chain,))
meta = signers.PdfSignatureMetadata(
    field_name="PyHanko", subfilter=fields.SigSeedSubFilter.PADES
)
stamper = timestamps.HTTPTimeStamper(tsa) if tsa else None
with open(inp, "rb") as f:
    w = IncrementalPdfFileWriter(f)
    with open(out, "wb") as o:
        signers.sign_pdf(w, meta, signer=signer, timestamper=stamper, output=o)
