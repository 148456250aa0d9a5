/* crmcard tab: renders the agent's customer card (Adaptive Card JSON) and keeps it live. */
(function () {
  "use strict";
  var AC = window.AdaptiveCards;
  var params = new URLSearchParams(location.search);
  var state = {
    token: null, inTeams: false, payload: null, held: null, source: null, texts: null,
    // Outside Teams the browser's language; inside, Teams' (from its context, below).
    locale: navigator.language || "",
    timeZone: (window.Intl && Intl.DateTimeFormat().resolvedOptions().timeZone) || ""
  };
  var $ = function (id) { return document.getElementById(id); };
  // The page's words in the agent's language: the server writes them into the page, and
  // sends them again with the card once it knows the agent's own choice of language.
  try { state.texts = JSON.parse($("texts").textContent); } catch (e) { state.texts = null; }

  function apiUrl(path, extra) {
    var q = new URLSearchParams();
    ["tenant", "agent"].forEach(function (k) { if (params.get(k)) q.set(k, params.get(k)); });
    if (state.locale) q.set("locale", state.locale);
    if (state.timeZone) q.set("timeZone", state.timeZone);
    Object.keys(extra || {}).forEach(function (k) { q.set(k, extra[k]); });
    var s = q.toString();
    return path + (s ? "?" + s : "");
  }

  function headers() {
    var h = { "Content-Type": "application/json" };
    if (state.token) h.Authorization = "Bearer " + state.token;
    return h;
  }

  // The page's own words, in the agent's language once the server said which (texts).
  function say(key, fallback) { return (state.texts && state.texts[key]) || fallback; }
  function httpFailed(status) {  // an answer without a problem body's detail
    return say("httpFailed", "The server answered HTTP {status}.").replace("{status}", status);
  }

  function applyTexts(texts) {
    state.texts = texts || state.texts;
    document.documentElement.lang = say("lang", "en");
    document.title = say("title", document.title);
    $("heading").textContent = say("heading", $("heading").textContent);
  }

  function showStatus(text) { $("status").textContent = text || ""; $("status").hidden = !text; }
  function setLive(s, text) { $("live").dataset.state = s; $("live").textContent = text; }

  // Themes: Teams tells us (default, dark, contrast); elsewhere ?theme= or the OS preference.
  function applyTheme(theme) {
    document.documentElement.dataset.theme =
      theme === "dark" || theme === "contrast" ? theme : "default";
    if (state.payload) render(state.payload);
  }

  function hostConfig() {
    var css = getComputedStyle(document.documentElement);
    var v = function (n) { return css.getPropertyValue(n).trim(); };
    var c = function (n) { return { default: v(n), subtle: v(n) }; };
    var fg = {
      default: { default: v("--fg"), subtle: v("--fg-subtle") },
      accent: c("--accent"), good: c("--good"), warning: c("--warning"),
      attention: c("--attention"), dark: c("--fg"), light: c("--fg-subtle")
    };
    var style = function (bg) { return { backgroundColor: v(bg), foregroundColors: fg }; };
    return new AC.HostConfig({
      fontFamily: "'Segoe UI', system-ui, -apple-system, sans-serif",
      containerStyles: {
        default: style("--card-bg"), emphasis: style("--emphasis-bg"), accent: style("--accent-bg"),
        good: style("--good-bg"), warning: style("--warning-bg"), attention: style("--attention-bg")
      },
      actions: { maxActions: 10, buttonSpacing: 8, actionsOrientation: "horizontal",
                 actionAlignment: "left", showCard: { actionMode: "inline", inlineTopMargin: 8 } }
    });
  }

  function escapeHtml(s) {
    return s.replace(/[&<>"']/g, function (ch) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[ch];
    });
  }

  // The little Markdown Adaptive Cards use: **bold**, _italic_, [text](https://...).
  AC.AdaptiveCard.onProcessMarkdown = function (text, result) {
    result.outputHtml = escapeHtml(text)
      .replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>")
      .replace(/(^|\s)_(.+?)_(?=\s|$)/g, "$1<em>$2</em>")
      .replace(/\[([^\]]+)\]\((https:\/\/[^)\s]+)\)/g,
               '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>')
      .replace(/\n/g, "<br>");
    result.didProcess = true;
  };

  function render(payload) {
    state.payload = payload;
    var root = $("card");
    root.textContent = "";
    root.setAttribute("aria-busy", "false");
    if (!payload.card) {
      root.innerHTML = '<p class="empty"></p>';
      root.firstChild.textContent = say("noInteraction", "No open interaction.");
      return;
    }
    var card = new AC.AdaptiveCard();
    card.hostConfig = hostConfig();
    card.onExecuteAction = onAction;
    card.parse(payload.card);
    root.appendChild(card.render());
  }

  function onAction(action) {
    if (action instanceof AC.ExecuteAction) {
      send(action.verb, action.data || {});
    } else if (action instanceof AC.OpenUrlAction && action.url) {
      if (state.inTeams) window.microsoftTeams.app.openLink(action.url);
      else window.open(action.url, "_blank", "noopener");
    }
  }

  function send(verb, data) {
    $("card").setAttribute("aria-busy", "true");
    return fetch(apiUrl("/api/tab/actions"), {
      method: "POST", headers: headers(), body: JSON.stringify({ verb: verb, data: data })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body.detail || httpFailed(r.status));
        showStatus("");
        // Keep this answer (it may carry notices) until the card moves past its revision.
        state.held = { id: body.interactionId, rev: body.revision };
        render(body);
      });
    }).catch(function (e) {
      showStatus(say("failed", "That did not work:") + " " + e.message);
      $("card").setAttribute("aria-busy", "false");
    });
  }

  function onCard(event) {
    var p = JSON.parse(event.data);
    var h = state.held;
    if (h && p.interactionId === h.id && p.revision === h.rev) return;
    state.held = null;
    render(p);
  }

  function connect() {
    if (state.source) state.source.close();
    var es = new EventSource(apiUrl("/api/tab/events",
      state.token ? { access_token: state.token } : null));
    es.addEventListener("card", onCard);
    es.onopen = function () { setLive("open", say("live", "live")); };
    es.onerror = function () {
      setLive("closed", say("reconnecting", "reconnecting…"));
      if (es.readyState === EventSource.CLOSED) setTimeout(start, 5000);
    };
    state.source = es;
  }

  // Teams SSO tokens live about an hour: ask Teams for a current one (it caches and
  // renews them) before every (re)load, and reopen the live stream with it periodically.
  var TOKEN_RENEWAL_MS = 30 * 60 * 1000;

  function freshToken() {
    if (!state.inTeams) return Promise.resolve();
    return window.microsoftTeams.authentication.getAuthToken().then(function (token) {
      state.token = token;
    }, function (e) {
      showStatus(say("signInFailed", "Teams sign-in failed:") + " " + (e && e.message || e));
    });
  }

  function start() {
    return freshToken().then(load);
  }

  function load() {
    return fetch(apiUrl("/api/tab/card"), { headers: headers() }).then(function (r) {
      return r.json().then(function (body) {
        if (r.status === 401) {
          setLive("closed", say("notSignedIn", "not signed in"));
          showStatus(say("signInRequired", "Sign-in required:") + " " + (body.detail || ""));
          $("card").innerHTML = '<p class="empty"></p>';
          $("card").firstChild.textContent = say("openInTeams", "Open crmcard inside Teams.");
          return;
        }
        if (!r.ok) throw new Error(body.detail || httpFailed(r.status));
        applyTexts(body.texts);
        if (body.mode === "development") {
          $("dev-banner").hidden = false;
          $("dev-who").textContent = " " + say("devWho", "Agent {agent}, tenant {tenant}")
            .replace("{agent}", body.agentId).replace("{tenant}", body.tenantId);
        }
        showStatus("");
        render(body);
        connect();
      });
    }).catch(function (e) {
      setLive("closed", say("offline", "offline"));
      showStatus(say("loadFailed", "Could not load the customer card:") + " " + e.message);
      setTimeout(start, 5000);
    });
  }

  function teams() {
    var t = window.microsoftTeams;
    if (!t || window.parent === window) return Promise.resolve(false);
    var timeout = new Promise(function (_, reject) {
      setTimeout(function () { reject(new Error("not in Teams")); }, 3000);
    });
    return Promise.race([t.app.initialize(), timeout]).then(function () {
      state.inTeams = true;
      t.app.registerOnThemeChangeHandler(applyTheme);
      setInterval(function () { freshToken().then(connect); }, TOKEN_RENEWAL_MS);
      return t.app.getContext().then(function (ctx) {
        applyTheme(ctx.app && ctx.app.theme);
        state.locale = (ctx.app && ctx.app.locale) || state.locale;
      }).then(function () { t.app.notifySuccess(); return true; });
    }, function () { return false; });
  }

  function outsideTeamsTheme() {
    var forced = params.get("theme");
    var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)");
    var pick = function () { applyTheme(forced || (dark && dark.matches ? "dark" : "default")); };
    pick();
    if (dark && !forced) dark.addEventListener("change", pick);
  }

  teams().then(function (inTeams) {
    if (!inTeams) outsideTeamsTheme();
    return start();
  });
})();
