/* docpipe review report: sorting, filtering and the page viewer. Inlined; no network, works from file://.
   Document text is only ever put on screen with textContent, never parsed as HTML. */
(function () {
  "use strict";

  /* ---- sortable tables: th[data-sort="num"|"text"][data-col]; cells may carry data-v ---- */
  function sortKey(row, col, numeric) {
    var cell = row.cells[col];
    var v = cell && cell.dataset.v !== undefined ? cell.dataset.v : (cell ? cell.textContent.trim().toLowerCase() : "");
    return numeric ? (v === "" ? -Infinity : Number(v)) : v;
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0];
    var col = Number(th.dataset.col), numeric = th.dataset.sort === "num";
    var current = th.getAttribute("aria-sort");
    var dir = current ? (current === "ascending" ? -1 : 1) : (th.dataset.first === "desc" ? -1 : 1);
    table.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = sortKey(a, col, numeric), y = sortKey(b, col, numeric);
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  }
  document.querySelectorAll("th[data-sort]").forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });

  /* ---- index: filter documents (both tables) and matrix columns ---- */
  var byId = function (id) { return document.getElementById(id); };
  var text = byId("filter-text"), status = byId("filter-status"), unv = byId("filter-unverified");
  function filterDocs() {
    var q = text.value.trim().toLowerCase(), s = status.value, u = unv.checked, shown = 0, total = 0;
    document.querySelectorAll("tr[data-doc]").forEach(function (row) {
      var show = (!q || row.dataset.search.indexOf(q) >= 0) && (!s || row.dataset.status === s) &&
        (!u || Number(row.dataset.unverified) > 0);
      row.hidden = !show;
      if (row.closest("#docs")) { total += 1; shown += show ? 1 : 0; }
    });
    byId("shown-docs").textContent = shown === total ? String(total) : shown + " of " + total;
  }
  if (text) {
    [text, status, unv].forEach(function (el) { el.addEventListener("input", filterDocs); });
  }
  var cat = byId("filter-category"), hideEmpty = byId("hide-empty");
  function filterColumns() {
    var q = cat.value.trim().toLowerCase(), hide = {}, shown = 0;
    document.querySelectorAll("#matrix th.cat").forEach(function (th) {
      var h = (q && th.dataset.name.indexOf(q) < 0) || (hideEmpty.checked && th.dataset.found === "0");
      hide[th.dataset.ci] = h;
      shown += h ? 0 : 1;
    });
    document.querySelectorAll("#matrix [data-ci]").forEach(function (el) {
      el.classList.toggle("hidden-col", !!hide[el.dataset.ci]);
    });
    byId("shown-cats").textContent = String(shown);
  }
  if (cat) {
    [cat, hideEmpty].forEach(function (el) { el.addEventListener("input", filterColumns); });
    filterColumns();
  }

  /* ---- by field: one field across all documents; the URL's #field=NAME preselects one ---- */
  var field = byId("field"), fieldText = byId("field-text"), fieldState = byId("field-state"),
    fieldUnv = byId("field-unverified");
  function filterFields() {
    var f = field.value, q = fieldText.value.trim().toLowerCase(), st = fieldState.value, u = fieldUnv.checked;
    var shown = 0, total = 0;
    document.querySelectorAll("#fields tbody tr").forEach(function (row) {
      var show = (!f || row.dataset.field === f) && (!q || row.dataset.search.indexOf(q) >= 0) &&
        (!st || row.dataset.state === st) && (!u || row.dataset.cite === "unverified");
      row.hidden = !show;
      total += 1;
      shown += show ? 1 : 0;
    });
    byId("shown-rows").textContent = shown === total ? String(total) : shown + " of " + total;
  }
  if (field) {
    var wanted = /^#field=/.test(location.hash) ? decodeURIComponent(location.hash.slice(7)) : "";
    if (wanted && Array.prototype.some.call(field.options, function (o) { return o.value === wanted; })) {
      field.value = wanted;
    }
    [field, fieldText, fieldState, fieldUnv].forEach(function (el) {
      el.addEventListener("input", filterFields);
      el.addEventListener("change", filterFields);
    });
    filterFields();
  }

  /* ---- document report: long quotes show four lines until clicked ---- */
  document.querySelectorAll(".clamp").forEach(function (q) {
    q.addEventListener("click", function () { q.classList.toggle("open"); });
  });

  /* ---- document report: the page viewer ---- */
  var dataEl = byId("page-data");
  if (!dataEl) { return; }
  var pages = JSON.parse(dataEl.textContent);
  var title = byId("viewer-title"), banner = byId("viewer-banner"), pre = byId("page-text");
  var prev = byId("page-prev"), next = byId("page-next"), shownPage = null, pdfLink = byId("viewer-pdf");
  var WHY = {
    verified: "Verified: the quote was found on the page the model cited.",
    relocated: "Relocated: the model cited page {claimed}; the quote was found on this page instead.",
    unverified: "Unverified: this quote was not found anywhere in the extracted text."
  };

  function el(tag, cls, content) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (content !== undefined) { node.textContent = content; }
    return node;
  }
  function setBanner(chip) {
    banner.replaceChildren();
    banner.className = "banner";
    if (!chip) { return; }
    var d = chip.dataset, bad = d.status === "unverified";
    var box = el("div", "alert " + (bad ? "bad" : d.status === "relocated" ? "warn" : "good"));
    var msg = WHY[d.status].replace("{claimed}", d.claimed || "?");
    if (d.match && d.match !== "exact" && d.match !== "none") { msg += " Match: " + d.match + " (score " + d.score + ")."; }
    if (bad) { msg += d.page ? " Showing the page the model claimed." : " The model named no valid page."; }
    box.appendChild(el("div", "", msg));
    if (bad) { box.appendChild(el("div", "claimed", "\u201C" + d.quote + "\u201D")); }
    banner.appendChild(box);
  }
  function showPage(number, chip) {
    var page = pages && number ? pages[number - 1] : null;
    document.querySelectorAll(".chip.active").forEach(function (c) { c.classList.remove("active"); });
    if (chip) { chip.classList.add("active"); }
    setBanner(chip);
    pre.replaceChildren();
    pre.classList.remove("placeholder");
    shownPage = page ? number : null;
    prev.disabled = !page || number <= 1;
    next.disabled = !page || number >= pages.length;
    if (!page) {
      title.textContent = number ? "Page " + number : "No page";
      pre.classList.add("placeholder");
      pre.textContent = pages ? "This citation names no page of the document." :
        "The page texts were not stored with this result (pages.json is missing); re-run docpipe to view pages.";
      return;
    }
    title.textContent = "Page " + page.label + (page.label === String(page.n) ? "" : " (PDF page " + page.n + ")") +
      " of " + pages.length;
    if (page.ocr) { title.appendChild(el("span", "badge ocr-mark", "OCR")); }
    if (page.status !== "ok") { title.appendChild(el("span", "badge failed ocr-mark", page.status)); }
    if (pdfLink && pdfLink.dataset.href) { pdfLink.href = pdfLink.dataset.href + "#page=" + page.n; pdfLink.hidden = false; }
    pre.dataset.page = String(page.n);
    var body = page.text || "", start = chip ? chip.dataset.start : "", end = chip ? chip.dataset.end : "";
    if (!body.trim()) { pre.classList.add("placeholder"); pre.textContent = "(no text on this page: " + page.status + ")"; return; }
    if (chip && start !== "" && end !== "" && Number(chip.dataset.page) === page.n) {
      var s = Number(start), e = Number(end), mark = el("mark", "", body.slice(s, e));
      mark.id = "highlight";
      pre.append(body.slice(0, s), mark, body.slice(e));
      pre.scrollTop = Math.max(0, mark.offsetTop - pre.clientHeight / 3);
    } else {
      pre.textContent = body;
      pre.scrollTop = 0;
    }
  }
  document.querySelectorAll(".chip[data-key]").forEach(function (chip) {
    chip.addEventListener("click", function () {
      showPage(chip.dataset.page ? Number(chip.dataset.page) : null, chip);
      if (history.replaceState) { history.replaceState(null, "", "#" + chip.dataset.key); }
      if (window.matchMedia("(max-width: 980px)").matches) { byId("viewer").scrollIntoView(); }
    });
  });
  prev.addEventListener("click", function () { if (shownPage > 1) { showPage(shownPage - 1, null); } });
  next.addEventListener("click", function () { if (shownPage < pages.length) { showPage(shownPage + 1, null); } });
  var start = location.hash ? document.querySelector('.chip[data-key="' + location.hash.slice(1).replace(/[^a-z0-9]/g, "") + '"]') : null;
  if (start) { start.click(); start.scrollIntoView({ block: "center" }); }
})();
