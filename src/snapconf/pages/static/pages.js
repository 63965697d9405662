// Copy buttons: copy data-copy to the clipboard and announce it to screen readers.
"use strict";
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const status = document.getElementById("annonce");
  try {
    await navigator.clipboard.writeText(button.dataset.copy);
    button.textContent = "Copié";
    if (status) status.textContent = "Copié dans le presse-papiers";
  } catch (e) {
    if (status) status.textContent = "La copie a échoué : sélectionnez le texte et copiez-le";
  }
  setTimeout(() => { button.textContent = "Copier"; }, 2000);
});
