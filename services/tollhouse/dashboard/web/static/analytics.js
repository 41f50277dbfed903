// Analytics filters: typing a from or to date picks the custom range (without script, pick it by hand).
"use strict";
document.addEventListener("change", (event) => {
  if (event.target.id === "from" || event.target.id === "to") {
    const range = document.getElementById("range");
    if (range) {
      range.value = "custom";
    }
  }
});
