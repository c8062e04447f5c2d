"""Signs several PDFs with pyHanko (PAdES, ETSI.CAdES.detached), one process for all of them.

Usage: python3 sign_matrix.py JOBS.json
JOBS.json: [{"in": ..., "out": ..., "key": ..., "cert": ..., "chain": ..., "md": "sha384",
             "pss": false}, ...]
"""
import json
import sys

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers

with open(sys.argv[1]) as f:
    jobs = json.load(f)
for job in jobs:
    signer = signers.SimpleSigner.load(
        job["key"], job["cert"], ca_chain_files=(job["chain"],), prefer_pss=job["pss"]
    )
    meta = signers.PdfSignatureMetadata(
        field_name="Matrix",
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm=job["md"],
    )
    with open(job["in"], "rb") as f:
        w = IncrementalPdfFileWriter(f)
        with open(job["out"], "wb") as o:
            signers.sign_pdf(w, meta, signer=signer, output=o)
print("signed", len(jobs))
