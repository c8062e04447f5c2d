// Progressive enhancement only: every flow works without this file.
// Moves focus to the error summary after a failed submission, so screen-reader and keyboard
// users land on the list of problems (GOV.UK error summary pattern).
document.addEventListener('DOMContentLoaded', function () {
  var summary = document.querySelector('.error-summary');
  if (summary) { summary.focus(); }
});
