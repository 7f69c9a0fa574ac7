"""Benchmark (issue 21): OCR of scanned contracts — character error rate, citations that survive the scan,
throughput per core and the reader's peak memory.

    python bench/ocr_corpus.py CUAD_DIR [--out bench/.cache/ocr] [--contracts 3] [--skip 0] [--pages 4]
                                        [--calibrate] [--json OUT.json] [--reuse] [--failures]
                                        [--engine rapidocr|tesseract]

CUAD_DIR is a folder in CUAD's layout (its PDFs in CUAD_DIR/pdf), e.g. the 60 dev contracts. Of the
contracts (by name) with at least `--pages` pages, the first `--skip` are passed over (a held-out subset: e.g.
`--contracts 8` to tune on, then `--skip 8 --contracts 4` in another `--out` for fresh figures) and the next
`--contracts` are cut to their first `--pages` pages (`originals/`, text layer kept), and from them, in
`--out` (ignored by git):
- `clean/`: every page rendered at 300 dpi (grey) and rebuilt as an image-only PDF (no text layer);
- `degraded/`: 200 dpi, a random skew of 0.3-1.0 degrees, Gaussian noise (sigma 12) and JPEG at quality 50;
- `mixed/`: the original with its even pages replaced by their degraded scans.
Each set is read by one docpipe reader process (`DocumentReader`, `--ocr auto`, `--ocr-engine` `--engine`; one
onnxruntime thread, or a tesseract child with one thread: one core), timed per set (for tesseract the CPU
figure includes its child processes: RUSAGE_CHILDREN counts waited-for grandchildren too). Measured:
- CER: Levenshtein distance between the OCR text and the original page's text layer (pypdfium2's, whitespace
  collapsed, NBSP as space) over the length of the original, summed over the OCR'd pages of a set;
- citations: the extractive engine runs on each original (plan → engine → parse + cite, docpipe's own
  stages); the quotes that verify there are then located by docpipe's checker in the scanned version's pages
  (`PageIndex.locate`, claimed page = the original's page): the share still `verified` on the same page,
  against the originals' own share; the engine is also run on each scanned version itself;
- throughput: OCR'd pages per second of one reader (one core), by the wall clock and per CPU second of the
  reader process (its start and untimed warm-up read included: a slight underestimate; on a shared machine the
  CPU figure is the one to trust: it is what one free core gives); peak RSS of the reader processes
  (RUSAGE_CHILDREN: they are this script's only children);
- `--calibrate`: characters per unit of ink share over every page of CUAD_DIR (sets
  `pipeline.ingest.ocr.MIN_CHARS_PER_INK`).
The machine's load average is printed beside the timings: on a shared machine it says how far to trust them.
The documents read are kept in `--out`/documents-ENGINE.json; `--reuse` reads them from there instead of OCR'ing
again (no timings then), e.g. to re-measure citations after a change to the checker. `--failures` prints each
original quote that does not verify on a scanned set, with the checker's result and the OCR text it aligns
best with.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import re
import resource
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETS = ("clean", "degraded", "mixed")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cuad", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / ".cache" / "ocr")
    parser.add_argument("--contracts", type=int, default=3)
    parser.add_argument("--skip", type=int, default=0)
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--failures", action="store_true")
    parser.add_argument("--engine", default="rapidocr", choices=("rapidocr", "tesseract"))
    args = parser.parse_args()
    summary: dict[str, object] = {"contracts": args.contracts, "skip": args.skip, "pages_each": args.pages,
                                  "engine": args.engine}
    if args.calibrate:
        summary["calibration"] = calibrate(sorted((args.cuad / "pdf").glob("*.pdf")))
        print(json.dumps(summary["calibration"], indent=1))
    names = make_corpus(args.cuad / "pdf", args.out, args.contracts, args.pages, args.skip)
    summary |= measure(args.out, names, args.reuse, args.failures, args.engine)
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n")


def calibrate(pdfs: list[Path]) -> dict[str, object]:
    import pypdfium2 as pdfium

    from pipeline.ingest.ocr import INK_DPI, INK_LEVEL, MIN_INK

    ratios = []
    for path in pdfs:
        pdf = pdfium.PdfDocument(path)
        for index in range(len(pdf)):
            page = pdf[index]
            chars = sum(not c.isspace() for c in page.get_textpage().get_text_range())
            ink = float((page.render(scale=INK_DPI / 72, grayscale=True).to_numpy() < INK_LEVEL).mean())
            if ink >= MIN_INK:
                ratios.append((round(chars / ink), path.name[:40], index + 1))
        pdf.close()
    ratios.sort()
    return {"pages_with_ink": len(ratios), "median_chars_per_ink": statistics.median(r[0] for r in ratios),
            "lowest": ratios[:6]}


def make_corpus(folder: Path, out: Path, contracts: int, pages: int, skip: int = 0) -> list[str]:
    """Write originals/, clean/, degraded/, mixed/ under `out`; return the file names."""
    from pypdf import PdfReader, PdfWriter

    for name in ("originals", *SETS):
        (out / name).mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    eligible = 0
    for path in sorted(folder.glob("*.pdf")):
        if len(names) == contracts:
            break
        reader = PdfReader(path)
        if len(reader.pages) < pages:
            continue
        eligible += 1
        if eligible <= skip:
            continue
        # Named by rank among eligible contracts: c09 is the same contract (and the same noise) in every subset.
        name = f"c{eligible:02d}.pdf"
        writer = PdfWriter()
        for page in reader.pages[:pages]:
            writer.add_page(page)
        with open(out / "originals" / name, "wb") as handle:
            writer.write(handle)
        rng = random.Random(name)
        scan(out / "originals" / name, out / "clean" / name, 300, None)
        scan(out / "originals" / name, out / "degraded" / name, 200, rng)
        mixed = PdfWriter()
        for index, (text, degraded) in enumerate(zip(PdfReader(out / "originals" / name).pages,
                                                     PdfReader(out / "degraded" / name).pages)):
            mixed.add_page(degraded if index % 2 else text)
        with open(out / "mixed" / name, "wb") as handle:
            mixed.write(handle)
        names.append(name)
        print(f"{name}: {path.name} ({pages} of {len(reader.pages)} pages)", flush=True)
    return names


def scan(source: Path, target: Path, dpi: int, rng: random.Random | None) -> None:
    """Every page as an image (PNG when clean; skewed, noisy JPEG when `rng`), no text layer."""
    import numpy
    import pypdfium2 as pdfium
    from fpdf import FPDF
    from PIL import Image

    pdf = pdfium.PdfDocument(source)
    doc = FPDF(unit="pt")
    for index in range(len(pdf)):
        page = pdf[index]
        width, height = page.get_size()
        image = page.render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
        buffer = io.BytesIO()
        if rng is None:
            image.save(buffer, format="PNG")
        else:
            angle = rng.uniform(0.3, 1.0) * rng.choice((-1, 1))
            image = image.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
            noisy = numpy.asarray(image, dtype=numpy.float32) + numpy.random.default_rng(rng.getrandbits(32)).normal(
                0, 12, (image.height, image.width))
            Image.fromarray(noisy.clip(0, 255).astype(numpy.uint8)).save(buffer, format="JPEG", quality=50)
        doc.add_page(format=(width, height))
        doc.image(buffer, x=0, y=0, w=width, h=height)
    pdf.close()
    doc.output(str(target))


def measure(out: Path, names: list[str], reuse: bool = False, failures: bool = False,
            engine: str = "rapidocr") -> dict[str, object]:
    from pipeline.models import Document

    cache = out / f"documents-{engine}.json"
    if reuse:
        stored = json.loads(cache.read_text())
        documents = {kind: {name: Document.model_validate(stored[kind][name]) for name in names}
                     for kind in ("originals", *SETS)}
        result: dict[str, object] = {"timing": "not measured (--reuse)"}
    else:
        documents, result = read_sets(out, names, engine)
        cache.write_text(json.dumps({kind: {name: d.model_dump(mode="json") for name, d in docs.items()}
                                     for kind, docs in documents.items()}))
    return result | {"cer": cer(out, documents, names), "citations": citations(documents, names, failures)}


def read_sets(out: Path, names: list[str], engine: str) -> tuple[dict[str, dict], dict[str, object]]:
    """Every set read by its own reader process, timed; the documents and the timings."""
    from pipeline.config import RunConfig
    from pipeline.run.reader import DocumentReader

    config = RunConfig(ocr="auto", ocr_engine=engine, jobs=1, ingest_timeout=3600, ocr_page_timeout=600)
    documents: dict[str, dict[str, object]] = {}
    timing: dict[str, dict[str, float]] = {}
    for kind in ("originals", *SETS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        with DocumentReader(config) as reader:
            reader.read(out / "originals" / names[0])  # start the process (and, below, load the engine) untimed
            start = time.perf_counter()
            documents[kind] = {name: reader.read(out / kind / name) for name in names}
            seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the reader has exited: its CPU time is counted
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        ocr_pages = sum(p.source == "ocr" for d in documents[kind].values() for p in d.pages)
        timing[kind] = {"seconds": round(seconds, 1), "reader_cpu_seconds": round(cpu, 1), "ocr_pages": ocr_pages,
                        "ocr_pages_per_s_wall": round(ocr_pages / seconds, 3) if ocr_pages else 0.0,
                        "ocr_pages_per_cpu_second": round(ocr_pages / cpu, 3) if ocr_pages else 0.0,
                        "load_average": round(os.getloadavg()[0], 2)}
        print(kind, timing[kind], flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return documents, {"timing": timing, "reader_peak_rss_mb": round(peak_mb)}


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


def cer(out: Path, documents: dict[str, dict], names: list[str]) -> dict[str, object]:
    import pypdfium2 as pdfium
    from rapidfuzz.distance import Levenshtein

    result: dict[str, object] = {}
    for kind in SETS:
        errors = length = pages = 0
        worst = 0.0
        for name in names:
            pdf = pdfium.PdfDocument(out / "originals" / name)
            for page in documents[kind][name].pages:
                if page.source != "ocr":
                    continue
                reference = _norm(pdf[page.page_number - 1].get_textpage().get_text_range())
                distance = Levenshtein.distance(reference, _norm(page.text))
                errors, length, pages = errors + distance, length + len(reference), pages + 1
                worst = max(worst, distance / max(len(reference), 1))
            pdf.close()
        result[kind] = {"pages": pages, "cer": round(errors / max(length, 1), 4), "worst_page": round(worst, 4)}
    return result


def citations(documents: dict[str, dict], names: list[str], failures: bool = False) -> dict[str, object]:
    from pipeline.cite.locate import PageIndex
    from pipeline.config import RunConfig
    from pipeline.engines.base import engine_info
    from pipeline.engines.extractive import ExtractiveEngine
    from pipeline.merge.assemble import assemble
    from pipeline.plan.routes import plan_document
    from pipeline.plan.tokens import load_tokenizer, tokenizer_dir
    from pipeline.tasks.checklist import load_checklist

    config, checklist = RunConfig(), load_checklist()
    tokenizer, engine = load_tokenizer(tokenizer_dir(None)), ExtractiveEngine()

    def cites(document: object) -> list:
        plan = plan_document(document, config, tokenizer, checklist)  # type: ignore[arg-type]
        result = assemble(plan, engine.generate(plan.requests), engine_info(engine), checklist)
        return [p.citation for p in result.summary] + [c.citation for c in result.clauses]

    found = {"verified", "relocated"}
    original = {name: cites(documents["originals"][name]) for name in names}
    total = sum(len(c) for c in original.values())
    verified = [(name, c) for name in names for c in original[name] if c.status == "verified"]
    out: dict[str, object] = {"originals": {"citations": total, "verified": len(verified)}}
    for kind in SETS:
        indexes = {name: PageIndex(documents[kind][name].pages) for name in names}
        located = [(n, c, indexes[n].locate(c.quote, c.page_number)) for n, c in verified]
        same_page = sum(hit.status == "verified" for _, _, hit in located)
        if failures:
            for name, cited, hit in located:
                if hit.status != "verified":
                    show_failure(kind, name, cited, hit, indexes[name])
        own = [c for name in names for c in cites(documents[kind][name])]
        out[kind] = {"original_quotes_verified_same_page": same_page,
                     "share_of_originals_verified": round(same_page / max(len(verified), 1), 4),
                     "engine_on_scan_citations": len(own),
                     "engine_on_scan_found": round(sum(c.status in found for c in own) / max(len(own), 1), 4)}
    return out


def show_failure(kind: str, name: str, cited: object, found: object, index: object) -> None:
    """Print a quote that verifies on the original but not on the scan: the checker's result, the OCR text it
    aligns best with on the original's page, and what the checker says that text changes (`cite.compare`)."""
    from rapidfuzz import fuzz

    from pipeline.cite.locate import normalize

    number = cited.page_number  # type: ignore[attr-defined]
    needle = normalize(cited.quote)[0]  # type: ignore[attr-defined]
    text = index._normalized(number - 1)[0]  # type: ignore[attr-defined]
    near = fuzz.partial_ratio_alignment(needle, text)
    changes = index._compare(cited.quote, number - 1, near.dest_start, near.dest_end, len(needle))[0]  # type: ignore[attr-defined]
    print(f"--- {kind} {name} p.{number} ({index.pages[number - 1].source}): {found.status} "  # type: ignore[attr-defined]
          f"{found.match} on p.{found.page_number}; best alignment {near.score:.1f}, changes {changes}\n"  # type: ignore[attr-defined]
          f"  quote: {needle}\n  ocr:   {text[near.dest_start:near.dest_end]}", flush=True)


if __name__ == "__main__":
    main()
