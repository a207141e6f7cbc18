"""``nastavnik formats``: the file formats pairs can be imported from and exported to."""

from __future__ import annotations

import click

from tui.cli import CONTEXT, Ctx, emit_json, pass_ctx


def register(cli: click.Group) -> None:
    cli.add_command(formats)


@click.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, type=click.Path(path_type=str))
@click.option("--format", "fmt", help="With FILES: check how a forced format would read them.")
@click.option("--encoding", help="With FILES: the text encoding to assume (default: detected).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@pass_ctx
def formats(obj: Ctx, files, fmt, encoding, as_json) -> None:
    """List the formats `pairs import` detects and `pairs export` writes, and how each is
    recognised. Give FILES to see what would be detected for them (nothing is imported).

    \b
    Examples:
      nastavnik formats
      nastavnik formats вопросы.csv chat.jsonl
      nastavnik formats --json
    """
    from core.formats import FORMATS, detect

    if files:
        found = []
        for f in files:
            plan = detect(f, fmt, encoding)
            item = {"file": f, "format": plan.format, "container": plan.container}
            if plan.container in ("csv", "jsonl", "json"):
                from core.formats.textio import sniff_encoding

                item["encoding"] = sniff_encoding(plan.path, plan.encoding)
            if plan.container == "csv":
                from core.formats.csvfmt import sniff_delimiter
                from core.formats.textio import read_text

                item["delimiter"] = plan.delimiter or sniff_delimiter(read_text(plan.path, plan.encoding)[0])
            if plan.parts:
                item["parts"] = [{"file": str(p.path), "format": p.format} for p in plan.parts]
            found.append(item)
        if as_json:
            emit_json(found)
            return
        for item in found:
            extra = ""
            if "encoding" in item:
                extra += f", encoding {item['encoding']}"
            if "delimiter" in item:
                extra += ", delimiter " + {"\t": "tab", ";": "';'", ",": "','"}.get(item["delimiter"], repr(item["delimiter"]))
            click.echo(f"{item['file']}: {item['format']}{extra}")
            for part in item.get("parts", []):
                click.echo(f"  {part['file']}: {part['format']}")
        return

    if as_json:
        emit_json(
            [
                {
                    "name": f.name,
                    "title": f.title,
                    "detect": f.detect,
                    "import": f.read,
                    "export": f.write,
                    "extensions": list(f.extensions),
                    "export_note": f.export_note,
                }
                for f in FORMATS
            ]
        )
        return
    for f in FORMATS:
        ways = "import, export" if f.read and f.write else "import" if f.read else "export"
        click.echo(f"{f.name:13}{f.title}  [{ways}]")
        click.echo(f"{'':13}detected by: {f.detect}")
        if f.export_note:
            click.echo(f"{'':13}export: {f.export_note}")
    click.echo("")
    click.echo("Every record may also carry tags, status (draft|approved|rejected) and split (train|eval).")
    click.echo("Force a format with `pairs import --format NAME`; the file name picks the export format.")
