/* crmcard Tickets page: search imported tickets, read one, open it in its CRM.
   ?email=&phone= (or a Teams deep link's subEntityId "email=...&phone=...") narrows the
   search to one contact's past tickets: the customer card's "Past tickets" entry. */
(function () {
  "use strict";
  var params = new URLSearchParams(location.search);
  var lang = document.documentElement.lang || "en";
  function languageOf(tag) { return (tag || "").split("-")[0].toLowerCase(); }
  // Dates in the reader's locale: Teams' (from its context, below) or the browser's when
  // it is of the page's language, else the page's language.
  function readerLocale(tag) { return languageOf(tag) === lang ? tag : lang; }
  var state = {
    token: null, inTeams: false, page: 1, contact: {}, locale: readerLocale(navigator.language)
  };
  var $ = function (id) { return document.getElementById(id); };
  // The page's words, in the reader's language: the server writes them on the body.
  function say(key, values) {
    var text = document.body.dataset[key] || "";
    Object.keys(values || {}).forEach(function (k) { text = text.replace("{" + k + "}", values[k]); });
    return text;
  }
  // A channel's or status's name as the search form shows it.
  function named(select, value) {
    var option = $("search").elements[select].querySelector('option[value="' + value + '"]');
    return option && value ? option.textContent : value;
  }

  function showStatus(text) { $("status").textContent = text || ""; $("status").hidden = !text; }

  function headers() {
    return state.token ? { Authorization: "Bearer " + state.token } : {};
  }

  function url(path, query) {
    var q = new URLSearchParams(query || {});
    if (params.get("tenant")) q.set("tenant", params.get("tenant"));
    q.set("locale", state.locale);  // the API's own words (labels, refusals) in it too
    var s = q.toString();
    return path + (s ? "?" + s : "");
  }

  // The page in another language, once: Teams' (its context), or the one the agent
  // chose in the bot chat (the API's Content-Language), as their customer card shows.
  function showIn(language) {
    var asked = languageOf(language);
    if (!asked || asked === lang || asked === languageOf(params.get("locale"))) return false;
    params.set("locale", language);
    location.replace(location.pathname + "?" + params.toString());
    return true;
  }

  function get(path, query) {
    return fetch(url(path, query), { headers: headers() }).then(function (r) {
      if (r.ok && showIn(r.headers.get("Content-Language"))) return new Promise(function () {});
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.detail || say("httpFailed", { status: r.status }));
        return body;
      });
    });
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function when(iso) {
    var options = { dateStyle: "medium", timeStyle: "short" };
    try { return new Date(iso).toLocaleString(state.locale, options); } catch (e) {
      return new Date(iso).toLocaleString(lang, options);
    }
  }

  // A day picked is the reader's own day: from its first moment (closedFrom) up to the
  // first moment of the day after it (closedTo, which the API takes as "closed before").
  function dayStart(day, daysLater) {
    var parts = day.split("-").map(Number);
    return new Date(parts[0], parts[1] - 1, parts[2] + daysLater).toISOString();
  }

  function asked() {
    var form = new FormData($("search"));
    var query = {};
    form.forEach(function (value, key) { if (value) query[key] = value; });
    if (query.closedFrom) query.closedFrom = dayStart(query.closedFrom, 0);
    if (query.closedTo) query.closedTo = dayStart(query.closedTo, 1);
    Object.keys(state.contact).forEach(function (k) { query[k] = state.contact[k]; });
    query.page = String(state.page);
    return query;
  }

  function search() {
    $("results").setAttribute("aria-busy", "true");
    return get("/api/tickets", asked()).then(function (body) {
      showStatus("");
      var list = $("results");
      list.textContent = "";
      if (!body.tickets.length) list.appendChild(el("li", "empty", say("noTickets")));
      body.tickets.forEach(function (t) {
        var item = el("li");
        var button = el("button");
        button.type = "button";
        button.appendChild(el("strong", null, t.subject));
        button.appendChild(el("div", "meta", [
          "#" + t.number, named("status", t.status),
          t.channel ? named("channel", t.channel) : say("unknownChannel"), t.agentName,
          when(t.closedAt)].join(" · ")));
        button.addEventListener("click", function () { open(t, button); });
        item.appendChild(button);
        list.appendChild(item);
      });
      $("page").textContent = say("page", { page: body.page.toLocaleString(state.locale) });
      $("prev").disabled = body.page <= 1;
      $("next").disabled = !body.hasMore;
      list.setAttribute("aria-busy", "false");
    }).catch(function (e) { showStatus(say("searchFailed") + " " + e.message); });
  }

  function open(summary, button) {
    Array.prototype.forEach.call(document.querySelectorAll("#results button"), function (b) {
      b.removeAttribute("aria-current");
    });
    button.setAttribute("aria-current", "true");
    var path = "/api/tickets/" + encodeURIComponent(summary.crmId) + "/" +
      encodeURIComponent(summary.externalId);
    return get(path).then(function (t) {
      var view = $("viewer");
      view.textContent = "";
      view.hidden = false;
      view.appendChild(el("h2", null, t.subject));
      view.appendChild(el("div", "meta", [
        t.crmName + " #" + t.number, named("status", t.status),
        t.channel ? named("channel", t.channel) : say("unknownChannel"),
        say("agent", { name: t.agentName }),
        say("requester", { name: t.requesterName || say("unknown") }),
        say("closed", { at: when(t.closedAt) })].join(" · ")));
      var link = el("a", "open-in", t.openIn.label);
      link.href = t.openIn.url;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.addEventListener("click", function (event) {
        if (state.inTeams) { event.preventDefault(); window.microsoftTeams.app.openLink(t.openIn.url); }
      });
      view.appendChild(link);
      t.messages.forEach(function (m) {
        var message = el("div", "message" + (m.fromAgent ? " agent" : ""));
        message.appendChild(el("div", "meta", m.author + " · " + when(m.at) +
          (m.public ? "" : " · " + say("internalNote"))));
        message.appendChild(el("div", "body", m.body));
        view.appendChild(message);
      });
    }).catch(function (e) { showStatus(say("openFailed") + " " + e.message); });
  }

  function readContact(source) {
    var q = new URLSearchParams(source || "");
    ["email", "phone"].forEach(function (k) { if (q.get(k)) state.contact[k] = q.get(k); });
    var who = Object.keys(state.contact).map(function (k) { return state.contact[k]; });
    var shown = q.get("shown") || who.join(", ");  // as the card showed them, if it said
    $("contact").textContent = who.length ? say("pastTickets", { who: shown }) : "";
  }

  function teams() {
    var t = window.microsoftTeams;
    if (!t || window.parent === window) return Promise.resolve();
    return t.app.initialize().then(function () {
      state.inTeams = true;
      return t.app.getContext();
    }).then(function (ctx) {
      var teamsLocale = ctx.app && ctx.app.locale;
      if (!params.get("locale") && showIn(teamsLocale)) return new Promise(function () {});
      state.locale = teamsLocale ? readerLocale(teamsLocale) : state.locale;
      readContact(ctx.page && ctx.page.subPageId);
      return t.authentication.getAuthToken();
    }).then(function (token) { state.token = token; t.app.notifySuccess(); })
      .catch(function (e) { showStatus(say("signInFailed") + " " + (e && e.message || e)); });
  }

  $("search").addEventListener("submit", function (event) {
    event.preventDefault();
    state.page = 1;
    search();
  });
  $("prev").addEventListener("click", function () { state.page -= 1; search(); });
  $("next").addEventListener("click", function () { state.page += 1; search(); });

  readContact(location.search);
  ["q", "status", "channel", "agent", "sort"].forEach(function (k) {
    if (params.get(k)) $("search").elements[k].value = params.get(k);
  });
  teams().then(function () {
    $("dev-banner").hidden = state.inTeams;  // outside Teams only development mode answers
    return search();
  });
})();
