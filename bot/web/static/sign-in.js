// crmcard's sign-in page, opened by the bot's sign-in button when Teams could not hand
// the agent's token over silently: ask Teams for it here (where Teams can ask the agent's
// consent), give it to crmcard, and tell Teams the sign-in is done (signin/verifyState).
(function () {
  "use strict";
  var t = window.microsoftTeams;
  var status = document.getElementById("status");
  var texts = document.body.dataset;

  function failed(reason) {
    status.textContent = texts.failed + " " + reason;
    if (t && t.authentication) t.authentication.notifyFailure(String(reason));
  }

  if (!t) { failed(texts.teamsNeeded); return; }
  t.app.initialize().then(function () {
    return t.authentication.getAuthToken();
  }).then(function (token) {
    return fetch("/api/tab/sign-in", {
      method: "POST", headers: { Authorization: "Bearer " + token }
    });
  }).then(function (r) {
    if (!r.ok) {
      return r.json().then(function (body) { throw new Error(body.detail || texts.httpFailed.replace("{status}", r.status)); });
    }
    status.textContent = texts.done;
    t.authentication.notifySuccess("signed-in");
  }).catch(function (e) { failed(e && e.message || e); });
})();
