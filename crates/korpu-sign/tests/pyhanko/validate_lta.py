"""Validates every signature of a PDF with pyHanko as PAdES B-LTA (EN 319 102-1 §5.6.3,
pyHanko's `ades_lta_validation`): the chain of document time-stamps is the evidence record,
revocation data is required for the signer and TSA certificates (and for CAs that name a
revocation service), and nothing may be fetched,
so only what the file's DSS holds counts. Also runs pyHanko's classic validation to report
the modification level (what the incremental updates after the signature did).
Prints one JSON object per signature.

Usage: python3 validate_lta.py FILE.pdf ROOT.pem [DAYS]
(with DAYS, pyHanko's simulate_future_ades_lta_validation: validation that many days from
now, assuming the archive time-stamp chain is renewed until then; it checks the file holds the
validation data past signature validation needs, i.e. that it is "LTA maintainable".)
"""
import asyncio
import json
import sys
from datetime import datetime, timedelta, timezone

from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.ades import (
    ades_lta_validation,
    simulate_future_ades_lta_validation,
)
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.policy_decl import (
    PdfSignatureValidationSpec,
    RevinfoOnlineFetchingRule,
    RevocationInfoGatheringSpec,
    SignatureValidationSpec,
)
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.context import CertValidationPolicySpec
from pyhanko_certvalidator.policy_decl import (
    CertRevTrustPolicy,
    RevocationCheckingPolicy,
    RevocationCheckingRule,
)
from pyhanko_certvalidator.registry import SimpleTrustManager

pdf, anchor = sys.argv[1], sys.argv[2]
root = load_cert_from_pemder(anchor)
future = None
if len(sys.argv) > 3:
    future = datetime.now(tz=timezone.utc) + timedelta(days=int(sys.argv[3]))
spec = PdfSignatureValidationSpec(
    SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=[root]),
            revinfo_policy=CertRevTrustPolicy(
                RevocationCheckingPolicy(
                    RevocationCheckingRule.CRL_OR_OCSP_REQUIRED,
                    RevocationCheckingRule.CHECK_IF_DECLARED,
                )
            ),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY
        ),
    )
)


def main():
    with open(pdf, "rb") as f:
        reader = PdfFileReader(f)
        kwargs = {"trust_roots": [root], "allow_fetching": False}
        try:
            vc = DocumentSecurityStore.read_dss(reader).as_validation_context(kwargs)
        except NoDSSFoundError:
            vc = ValidationContext(ocsps=[], crls=[], **kwargs)
        for sig in reader.embedded_signatures:
            if sig.sig_object.get("/Type") == "/DocTimeStamp":
                continue
            out = {"field": sig.field_name}
            try:
                if future is None:
                    r = asyncio.run(ades_lta_validation(sig, spec))
                else:
                    r = asyncio.run(
                        simulate_future_ades_lta_validation(sig, spec, future)
                    )
                out["ades_indication"] = str(r.ades_subindic.status.name)
                out["ades_subindication"] = str(r.ades_subindic.name)
                out["bottom_line"] = bool(
                    r.api_status is not None and r.api_status.bottom_line
                )
                out["oldest_archive_time"] = str(r.oldest_evidence_record_timestamp)
                out["failure"] = r.failure_msg
                st = validate_pdf_signature(sig, vc)
                out["modification_level"] = st.modification_level.name
                out["classic_bottom_line"] = st.bottom_line
            except Exception as e:
                out["bottom_line"] = False
                out["error"] = repr(e)
            print(json.dumps(out))


main()
