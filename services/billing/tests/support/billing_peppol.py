"""Checks a UBL document as a Peppol access point would: the UBL 2.1 schema (xmlschema),
then the official Schematron rules CEN-EN16931-UBL and PEPPOL-EN16931-UBL compiled to XSLT
(run with saxonche). The artefacts come from ``tools/peppol_rules.sh`` (``make test`` runs
it first); each stylesheet is compiled once per test session.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree as ET

import xmlschema
from saxonche import PySaxonProcessor

REPO = Path(__file__).resolve().parents[4]
RULES_DIR = REPO / "var" / "peppol"
SVRL = "{http://purl.oclc.org/dsdl/svrl}"
CCTS = "urn:un:unece:uncefact:data:specification:CoreComponentTypeSchemaModule:2"


def ensure_artefacts() -> Path:
    """Fetches the XSDs and rules if this machine has not got them yet (cached)."""
    subprocess.run([str(REPO / "tools" / "peppol_rules.sh")], check=True)
    return RULES_DIR


@dataclass(frozen=True)
class Failure:
    rule: str
    flag: str
    text: str


class PeppolValidator:
    def __init__(self, rules_dir: Path) -> None:
        maindoc = rules_dir / "ubl21" / "maindoc"
        imported = rules_dir / "ubl21" / "imported"
        # The UBL files import these without a schemaLocation.
        locations = [
            (CCTS, str(imported / "CCTS_CCT_SchemaModule.xsd")),
            ("http://www.w3.org/2000/09/xmldsig#", str(imported / "xmldsig-core-schema.xsd")),
            ("http://uri.etsi.org/01903/v1.3.2#", str(imported / "XAdES01903v132-201601.xsd")),
            ("http://uri.etsi.org/01903/v1.4.1#", str(imported / "XAdES01903v141-201601.xsd")),
        ]
        self.schemas = {
            kind: xmlschema.XMLSchema(str(maindoc / f"UBL-{kind}-2.1.xsd"), locations=locations)
            for kind in ("Invoice", "CreditNote")
        }
        self.processor = PySaxonProcessor(license=False)
        xslt = self.processor.new_xslt30_processor()
        self.stylesheets = {
            name: xslt.compile_stylesheet(stylesheet_file=str(rules_dir / "xslt" / f"{name}.xslt"))
            for name in ("CEN-EN16931-UBL", "PEPPOL-EN16931-UBL")
        }

    def schema_errors(self, document: bytes) -> list[str]:
        root = ET.fromstring(document)
        kind = root.tag.rsplit("}", 1)[-1]
        schema = self.schemas[kind]
        return [str(e.reason) + " at " + str(e.path) for e in schema.iter_errors(document.decode())]

    def rule_failures(self, document: bytes) -> list[Failure]:
        node = self.processor.parse_xml(xml_text=document.decode())
        failures: list[Failure] = []
        for name, executable in self.stylesheets.items():
            svrl = executable.transform_to_string(xdm_node=node)
            for fa in ET.fromstring(svrl).iter(f"{SVRL}failed-assert"):
                text = "".join(t.strip() for t in fa.itertext())
                failures.append(Failure(f"{name}:{fa.get('id')}", fa.get("flag") or "", text))
        return failures

    def errors(self, document: bytes) -> list[str]:
        """Schema errors and every failed assert flagged fatal (or not flagged)."""
        found = self.schema_errors(document)
        found += [
            f"{f.rule} [{f.flag or 'no flag'}] {f.text}"
            for f in self.rule_failures(document)
            if f.flag in ("fatal", "")
        ]
        return found
