// The API designer, progressively enhanced: without script every section shows and blank rows are offered.
"use strict";
(() => {
  const form = document.querySelector(".api-form form");
  if (!form) {
    return;
  }

  // Show only the settings of the chosen authentication kind.
  const showAuthParts = () => {
    const chosen = form.querySelector("input[name=auth]:checked");
    const kind = chosen ? chosen.value : "";
    for (const part of form.querySelectorAll(".auth-part")) {
      part.hidden = !part.dataset.auth.split(" ").includes(kind);
    }
  };
  form.addEventListener("change", (event) => {
    if (event.target.name === "auth") {
      showAuthParts();
    }
  });
  showAuthParts();

  // Rows: "Remove" clears a row's fields (a cleared row is dropped on save) and hides it;
  // "Add" copies the last row, blank, under the next free index.
  const clearRow = (row) => {
    for (const input of row.querySelectorAll("input[type=text], input[type=hidden]")) {
      input.value = "";
    }
  };
  form.addEventListener("click", (event) => {
    const remove = event.target.closest(".remove-row");
    if (remove) {
      const row = remove.closest("tr");
      clearRow(row);
      row.hidden = true;
      return;
    }
    const add = event.target.closest(".add-row");
    if (!add) {
      return;
    }
    const kind = add.dataset.for;
    const body = form.querySelector(`tbody[data-rows=${kind}]`);
    const last = body.querySelector("tr:last-child");
    const pattern = new RegExp(`^${kind}-(\\d+)-`);
    let next = 0;
    for (const field of body.querySelectorAll("[name]")) {
      const match = pattern.exec(field.name);
      if (match) {
        next = Math.max(next, Number(match[1]) + 1);
      }
    }
    const row = last.cloneNode(true);
    row.hidden = false;
    for (const field of row.querySelectorAll("[name]")) {
      field.name = field.name.replace(pattern, `${kind}-${next}-`);
      field.removeAttribute("aria-invalid");
      field.removeAttribute("aria-describedby");
    }
    for (const error of row.querySelectorAll(".field-error")) {
      error.remove();
    }
    clearRow(row);
    body.appendChild(row);
    const first = row.querySelector("input[type=text]");
    if (first) {
      first.focus();
    }
  });
  for (const button of form.querySelectorAll(".add-row, .remove-row")) {
    button.hidden = false;
  }
})();
