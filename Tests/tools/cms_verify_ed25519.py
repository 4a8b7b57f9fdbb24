#!/usr/bin/env python3
"""Independent verifier of Ed25519 detached CMS signatures (RFC 8419) for Axis tests.

Axis signs and verifies Ed25519 CMS with its own code on OpenSSL primitives (OpenSSL 3.0's CMS
cannot); this script is the cross-check that shares nothing with it: the structure is parsed with
asn1crypto, the signature checked with Python `cryptography`'s Ed25519 primitive. Run by
Tests/AxisTests/Support/TestPKI.swift; usable by hand too:

    python3 Tests/tools/cms_verify_ed25519.py --signature doc.p7s --content doc.bin [--cert-out signer.pem]

It checks the signature only, not the certificate chain:
  * one ContentInfo of type signedData holding exactly one SignerInfo, encapsulated content type
    id-data; the content is taken from --content (the CMS must be detached);
  * the SignerInfo's signer certificate is found among `certificates` (issuerAndSerialNumber or
    subjectKeyIdentifier) and has an Ed25519 key;
  * RFC 8419 §3.1: digestAlgorithm id-sha512 with parameters absent, signatureAlgorithm id-Ed25519
    (1.3.101.112) with parameters absent;
  * with signed attributes (RFC 5652 §5.3, §11): exactly one contentType equal to the encapsulated
    content type, exactly one messageDigest equal to SHA-512(content), and the attributes DER-encoded
    (SET OF elements in DER order); the signature covers their DER with the SET OF tag 0x31 in place of
    the IMPLICIT [0] tag 0xA0 the SignerInfo carries them with (RFC 5652 §5.4);
  * without signed attributes the signature covers the content itself (PureEdDSA, no context).

--cert-out writes the signer certificate (PEM). Exit status: 0 valid; 1 invalid (the reason is
printed); 2 usage (bad arguments, unreadable files); 4 `cryptography` or `asn1crypto` not installed.
"""
import argparse
import hashlib
import sys

VALID = 0
INVALID = 1
USAGE = 2
MISSING_LIBRARY = 4

ID_DATA = "1.2.840.113549.1.7.1"
ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_SHA512 = "2.16.840.1.101.3.4.2.3"
ID_ED25519 = "1.3.101.112"
ID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
ID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"


class Invalid(Exception):
    """The signature is not valid; the message says why."""


def absent(value) -> bool:
    """True for an OPTIONAL field that is not there at all (asn1crypto's Void; NULL is a present field)."""
    from asn1crypto import core
    return isinstance(value, core.Void)


def find_signer(signed_data, sid):
    """The certificate the SignerIdentifier names, from the SignedData's certificates."""
    certificates = [choice.chosen for choice in (signed_data["certificates"] or []) if choice.name == "certificate"]
    if sid.name == "issuer_and_serial_number":
        issuer = sid.chosen["issuer"]
        serial = sid.chosen["serial_number"].native
        for certificate in certificates:
            if certificate.issuer == issuer and certificate.serial_number == serial:
                return certificate
        raise Invalid(f"no certificate in the SignedData has issuer {issuer.human_friendly} and serial {serial:x}")
    key_id = sid.chosen.native
    for certificate in certificates:
        if certificate.key_identifier == key_id:
            return certificate
    raise Invalid(f"no certificate in the SignedData has subjectKeyIdentifier {key_id.hex()}")


def one_attribute_value(attributes, oid: str, name: str):
    """The single value of the single attribute `oid` (RFC 5652 §11.1, §11.2: one attribute, one value)."""
    matches = [attribute for attribute in attributes if attribute["type"].dotted == oid]
    if len(matches) != 1:
        raise Invalid(f"the signed attributes hold {len(matches)} {name} attributes, not exactly one")
    values = matches[0]["values"]
    if len(values) != 1:
        raise Invalid(f"the {name} attribute has {len(values)} values, not exactly one")
    return values[0]


def verify(signature_bytes: bytes, content: bytes, cert_out):
    from asn1crypto import cms, pem
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if pem.detect(signature_bytes):
        _, _, signature_bytes = pem.unarmor(signature_bytes)
    try:
        content_info = cms.ContentInfo.load(signature_bytes, strict=True)
        content_type = content_info["content_type"].dotted
        signed_data = content_info["content"]
        if content_type != ID_SIGNED_DATA:
            raise Invalid(f"the ContentInfo is of type {content_type}, not signedData")
        signer_infos = signed_data["signer_infos"]
        if len(signer_infos) != 1:
            raise Invalid(f"the SignedData has {len(signer_infos)} SignerInfos, this verifier takes exactly one")
        signer_info = signer_infos[0]
        encap = signed_data["encap_content_info"]
        encap_type = encap["content_type"].dotted
        if not absent(encap["content"]):
            raise Invalid("the SignedData embeds its content: not a detached signature")
        # Walk everything once, so that a malformed part fails here as a parse error.
        signed_data.native  # noqa: B018
    except ValueError as error:
        raise Invalid(f"not a DER CMS ContentInfo: {error}") from error

    signer = find_signer(signed_data, signer_info["sid"])
    if cert_out:
        with open(cert_out, "wb") as f:
            f.write(pem.armor("CERTIFICATE", signer.dump()))
    public_key_info = signer.public_key
    if public_key_info["algorithm"]["algorithm"].dotted != ID_ED25519:
        raise Invalid(f"the signer's key is {public_key_info['algorithm']['algorithm'].native}, not Ed25519")
    public_key = Ed25519PublicKey.from_public_bytes(public_key_info["public_key"].native)

    digest_algorithm = signer_info["digest_algorithm"]
    if digest_algorithm["algorithm"].dotted != ID_SHA512:
        raise Invalid(f"digestAlgorithm is {digest_algorithm['algorithm'].native}, RFC 8419 §3.1 requires id-sha512")
    if not absent(digest_algorithm["parameters"]):
        raise Invalid("the id-sha512 digestAlgorithm has parameters; RFC 8419 §3.1 requires them absent")
    signature_algorithm = signer_info["signature_algorithm"]
    if signature_algorithm["algorithm"].dotted != ID_ED25519:
        raise Invalid(f"signatureAlgorithm is {signature_algorithm['algorithm'].dotted}, not id-Ed25519 ({ID_ED25519})")
    if not absent(signature_algorithm["parameters"]):
        raise Invalid("the id-Ed25519 signatureAlgorithm has parameters; RFC 8419 §3.1 requires them absent")
    if ID_SHA512 not in [algorithm["algorithm"].dotted for algorithm in signed_data["digest_algorithms"]]:
        raise Invalid("the SignedData's digestAlgorithms do not list id-sha512")

    signed_attrs = signer_info["signed_attrs"]
    if absent(signed_attrs):
        # No signed attributes: PureEdDSA over the content (RFC 8419 §3.1), which must then be id-data.
        to_be_verified = content
        what = f"the {len(content)} content bytes (no signed attributes)"
    else:
        if encap_type != ID_DATA:
            raise Invalid(f"the encapsulated content type is {encap_type}, this verifier takes id-data only")
        content_type_value = one_attribute_value(signed_attrs, ID_CONTENT_TYPE, "contentType")
        if content_type_value.dotted != encap_type:
            raise Invalid(f"the contentType attribute says {content_type_value.dotted}, the content is {encap_type}")
        claimed = one_attribute_value(signed_attrs, ID_MESSAGE_DIGEST, "messageDigest").native
        actual = hashlib.sha512(content).digest()
        if claimed != actual:
            raise Invalid(f"messageDigest {claimed.hex()} is not SHA-512 of the content ({actual.hex()}): "
                          "the content is not the one that was signed")
        # RFC 5652 §5.4: the signature covers "the DER encoding of the SignedAttributes value": the
        # EXPLICIT SET OF tag (0x31), not the IMPLICIT [0] (0xA0) it is stored with, then the same
        # length and contents as received.
        received = signed_attrs.dump()
        if received[0] != 0xA0:
            raise Invalid(f"signedAttrs carry tag {received[0]:#04x}, not [0] IMPLICIT constructed (0xa0)")
        to_be_verified = b"\x31" + received[1:]
        # RFC 5652 §5.3: SignedAttributes MUST be DER-encoded, so a SET OF with its elements in DER order.
        elements = [attribute.dump() for attribute in signed_attrs]
        if b"".join(elements) != received[len(received) - len(b"".join(elements)):] or elements != sorted(elements):
            raise Invalid("the signed attributes are not DER-encoded (SET OF elements out of order): "
                          + ", ".join(attribute["type"].dotted for attribute in signed_attrs))
        what = f"the {len(to_be_verified)}-byte DER of the signed attributes"

    signature_value = signer_info["signature"].native
    if len(signature_value) != 64:
        raise Invalid(f"the signature value has {len(signature_value)} bytes; an Ed25519 signature has 64")
    try:
        public_key.verify(signature_value, to_be_verified)
    except InvalidSignature as error:
        raise Invalid(f"the Ed25519 signature over {what} does not verify with the key of "
                      f"{signer.subject.human_friendly}") from error
    return f"valid: Ed25519 signature over {what}, signer {signer.subject.human_friendly}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--signature", required=True, help="the CMS signature (DER or PEM)")
    parser.add_argument("--content", required=True, help="the detached content")
    parser.add_argument("--cert-out", help="write the signer certificate here (PEM)")
    args = parser.parse_args()  # exits 2 on bad arguments

    try:
        import asn1crypto  # noqa: F401
        import cryptography  # noqa: F401
    except ImportError as error:
        print(f"cms_verify_ed25519.py: a library is not installed ({error}); needs 'asn1crypto' and 'cryptography'",
              file=sys.stderr)
        return MISSING_LIBRARY
    try:
        with open(args.signature, "rb") as f:
            signature_bytes = f.read()
        with open(args.content, "rb") as f:
            content = f.read()
    except OSError as error:
        print(f"cms_verify_ed25519.py: {error}", file=sys.stderr)
        return USAGE

    try:
        print(verify(signature_bytes, content, args.cert_out))
    except Invalid as reason:
        print(f"invalid: {reason}")
        return INVALID
    except (ValueError, TypeError, KeyError, IndexError) as error:
        # asn1crypto parses lazily: a malformed part may only show when it is read.
        print(f"invalid: malformed CMS ({type(error).__name__}: {error})")
        return INVALID
    return VALID


if __name__ == "__main__":
    sys.exit(main())
