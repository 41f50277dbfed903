// The JSON editor and the import pages, progressively: line numbers beside a text area (errored lines marked),
// a click on an error selects its line, and a chosen file is read into the text area (the form still posts the
// text: no upload handling on the server). Without script the pages work as plain forms.
"use strict";

function lineNumbers(textarea) {
  const marked = new Set((textarea.dataset.markedLines || "").split(/\s+/).filter(Boolean).map(Number));
  const wrapper = document.createElement("div");
  wrapper.className = "numbered";
  const gutter = document.createElement("pre");
  gutter.className = "gutter";
  gutter.setAttribute("aria-hidden", "true");
  gutter.dataset.testid = "gutter";
  textarea.parentNode.insertBefore(wrapper, textarea);
  wrapper.append(gutter, textarea);
  let shown = -1;
  const update = () => {
    const count = textarea.value.split("\n").length;
    if (count !== shown) {
      shown = count;
      gutter.replaceChildren();
      for (let line = 1; line <= count; line += 1) {
        const number = document.createElement("span");
        number.textContent = String(line);
        if (marked.has(line)) {
          number.className = "bad";
        }
        gutter.append(number, "\n");
      }
    }
    gutter.scrollTop = textarea.scrollTop;
  };
  textarea.addEventListener("input", update);
  textarea.addEventListener("scroll", () => { gutter.scrollTop = textarea.scrollTop; });
  update();
}

function selectLine(textarea, line) {
  const lines = textarea.value.split("\n");
  const start = lines.slice(0, line - 1).reduce((total, text) => total + text.length + 1, 0);
  textarea.focus();
  textarea.setSelectionRange(start, start + (lines[line - 1] || "").length);
  const height = parseFloat(getComputedStyle(textarea).lineHeight) || 19;
  textarea.scrollTop = Math.max(0, (line - 4) * height);
}

function loadFileInto(input) {
  const target = document.getElementById(input.dataset.loadInto);
  input.addEventListener("change", async () => {
    const [file] = input.files;
    if (file && target) {
      target.value = await file.text();
      target.dispatchEvent(new Event("input"));
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll(".js-only").forEach((element) => { element.hidden = false; });
  document.querySelectorAll("textarea[data-line-numbers]").forEach(lineNumbers);
  document.querySelectorAll("input[type=file][data-load-into]").forEach(loadFileInto);
  const editor = document.getElementById("definition");
  if (editor) {
    document.querySelectorAll("[data-jump-line]").forEach((error) => {
      error.addEventListener("click", () => selectLine(editor, Number(error.dataset.jumpLine)));
    });
  }
});
