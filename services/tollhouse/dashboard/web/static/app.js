// Tollhouse dashboard: small progressive enhancements only; every page works without script.
"use strict";
document.addEventListener("submit", (event) => {
  // One click, one POST: a second click while the first is in flight would resend the form.
  const button = event.target.querySelector("button[type=submit]");
  if (button) {
    setTimeout(() => { button.disabled = true; }, 0);
  }
});
