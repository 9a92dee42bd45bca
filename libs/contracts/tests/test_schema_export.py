import json

from contracts.export import DEFAULT_OUT, REGENERATE_HINT, check, main, render, write


def test_exported_schemas_are_not_stale():
    problems = check(DEFAULT_OUT)
    assert not problems, (
        "libs/contracts/schemas is out of date:\n  "
        + "\n  ".join(problems)
        + f"\nRegenerate with: {REGENERATE_HINT}"
    )


def test_default_out_dir_is_next_to_the_package():
    assert DEFAULT_OUT.name == "schemas"
    assert (DEFAULT_OUT.parent / "pyproject.toml").is_file()


def test_each_schema_has_the_dataschema_urn_as_id_and_a_title():
    files = render()
    schema = json.loads(files["invoice.closed/v1.json"])
    assert schema["$id"] == "urn:portal:events:invoice.closed:v1"
    assert schema["title"] == "InvoiceClosedV1"
    assert schema["properties"]["totals"] == {"$ref": "#/$defs/InvoiceTotalsV1"}
    assert schema["$defs"]["InvoiceTotalsV1"]["properties"]["vat"]["type"] == "string"
    for rel, text in files.items():
        assert text.endswith("}\n"), rel
        assert (
            text
            == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )


def test_catalogue_file_lists_topics_with_their_schema_file():
    catalogue = json.loads(render()["catalogue.json"])
    by_name = {t["name"]: t for t in catalogue["topics"]}
    assert by_name["usage.records"]["schema"] == "usage.records/v1.json"
    assert by_name["usage.records"]["partitions"] == 12
    assert by_name["dlq.billing"]["schema"] is None
    assert set(by_name["invoice.closed"]) >= {
        "name",
        "key",
        "partitions",
        "retention_ms",
        "schema_version",
        "schema",
    }


def test_check_reports_missing_stale_and_extra_files_without_writing(tmp_path):
    assert "missing: catalogue.json" in check(tmp_path)
    assert list(tmp_path.iterdir()) == []

    write(tmp_path)
    assert check(tmp_path) == []

    (tmp_path / "invoice.closed" / "v1.json").write_text("{}\n")
    (tmp_path / "invoice.closed" / "v7.json").write_text("{}\n")
    (tmp_path / "user.created" / "v1.json").unlink()
    (tmp_path / "README.md").write_text("not managed\n")
    assert check(tmp_path) == [
        "missing: user.created/v1.json",
        "stale: invoice.closed/v1.json",
        "extra: invoice.closed/v7.json",
    ]

    write(tmp_path)
    assert check(tmp_path) == []
    assert (tmp_path / "README.md").exists()


def test_cli_check_exits_1_with_the_list_and_0_when_up_to_date(tmp_path, capsys):
    assert main(["--check", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "missing: invoice.closed/v1.json" in out
    assert REGENERATE_HINT in out
    assert main(["--out", str(tmp_path)]) == 0
    assert main(["--check", "--out", str(tmp_path)]) == 0
