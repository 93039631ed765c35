// The page of `llmlingstral serve`: sends the form to /v1/compress and shows the result.
// No libraries and no network beyond this service.
"use strict";

const $ = (id) => document.getElementById(id);
const METHOD_LABELS = {
  llmlingua2: "LLMLingua-2", llmlingua: "LLMLingua", longllmlingua: "LongLLMLingua",
  structured: "Structured (<llmlingua> tags)",
};

function splitDocuments(text) {
  return text.split(/\n[^\S\n]*\n\s*/).filter((part) => part.trim() !== "");
}

function requestBody() {
  const method = $("method").value;
  const body = { method: method, rate: Number($("rate").value) };
  const prompt = $("prompt").value;
  const documents = splitDocuments($("documents").value);
  const question = $("question").value;
  if (documents.length > 0) {
    body.context = documents;
    if (prompt.trim() !== "") body.instruction = prompt;
  } else {
    body.context = prompt;
  }
  if (question.trim() !== "") body.question = question;
  // Checked: the service's own protection; unchecked: llmlingua's behaviour.
  if (!$("protect").checked) body.protect = false;
  return body;
}

// The spans of the original (kept or dropped) cut where protected spans begin and end, so
// that facts kept whole can be told apart from ordinary kept words. Offsets are Unicode
// code points, as the service counts them.
function markedPieces(spans, protectedSpans) {
  const pieces = [];
  let next = 0;
  for (const span of spans) {
    const chars = Array.from(span.text);
    let cursor = span.start;
    while (cursor < span.end) {
      while (next < protectedSpans.length && protectedSpans[next].end <= cursor) next++;
      const fact = protectedSpans[next];
      const inside = fact !== undefined && fact.start <= cursor;
      const end = Math.min(span.end, inside ? fact.end : (fact ? fact.start : span.end));
      pieces.push({
        kept: span.kept, kind: inside ? fact.kind : null,
        text: chars.slice(cursor - span.start, end - span.start).join(""),
      });
      cursor = end;
    }
  }
  return pieces;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = false;
}

function render(result, seconds) {
  const marked = $("marked");
  marked.replaceChildren();
  for (const piece of markedPieces(result.spans || [], result.protected_spans || [])) {
    const node = document.createElement(piece.kept ? "span" : "s");
    node.className = piece.kept ? "kept" : "dropped";
    if (piece.kind !== null) {
      node.classList.add("protected");
      node.dataset.kind = piece.kind;
      node.title = `kept whole: ${piece.kind.replaceAll("_", " ")}`;
    }
    node.textContent = piece.text;
    marked.appendChild(node);
  }
  const origin = result.origin_tokens;
  const kept = result.compressed_tokens;
  $("origin-tokens").textContent = String(origin);
  $("compressed-tokens").textContent = String(kept);
  $("achieved-rate").textContent = origin ? (kept / origin).toFixed(2) : "1.00";
  $("elapsed").textContent = `${(result.elapsed_seconds * 1000).toFixed(0)} ms ` +
    `(round trip ${(seconds * 1000).toFixed(0)} ms)`;
  const prompt = result.compressed_prompt;
  $("compressed").textContent = typeof prompt === "string" ? prompt : JSON.stringify(prompt);
  $("result").hidden = false;
}

async function compress(event) {
  event.preventDefault();
  $("error").hidden = true;
  $("status").textContent = "Compressing...";
  const headers = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key !== "") headers.Authorization = `Bearer ${key}`;
  const started = performance.now();
  try {
    const response = await fetch("v1/compress", {
      method: "POST", headers: headers, body: JSON.stringify(requestBody()),
    });
    const result = await response.json();
    if (!response.ok) {
      const message = result.error ? result.error.message : response.statusText;
      showError(`${response.status}: ${message}`);
      $("status").textContent = "";
      return;
    }
    render(result, (performance.now() - started) / 1000);
    $("status").textContent = "Done.";
  } catch (error) {
    showError(`The service could not be reached: ${error}`);
    $("status").textContent = "";
  }
}

async function waitUntilReady() {
  for (;;) {
    try {
      const response = await fetch("readyz");
      const state = await response.json();
      if (state.ready) return state;
      if (state.error) {
        showError(`The models failed to load: ${state.error}`);
        return null;
      }
    } catch (error) {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function start() {
  $("rate").addEventListener("input", () => {
    $("rate-value").textContent = Number($("rate").value).toFixed(2);
  });
  $("compress-form").addEventListener("submit", compress);
  const state = await waitUntilReady();
  if (state === null) return;
  const select = $("method");
  for (const method of Object.keys(METHOD_LABELS)) {
    if (!state.methods.includes(method)) continue;
    const option = document.createElement("option");
    option.value = method;
    option.textContent = METHOD_LABELS[method];
    select.appendChild(option);
  }
  $("submit").disabled = false;
  $("status").textContent = "Ready.";
}

start();
