// Pilothouse dashboard: sign-in, fragments, live updates, confirmed actions. No inline script anywhere:
// the Content-Security-Policy allows scripts from this origin only.
(function () {
  "use strict";
  var TOKEN = "pilothouse.token";
  var view = document.getElementById("view");
  var streams = [];

  function token() { return sessionStorage.getItem(TOKEN); }
  function auth() { return { "Authorization": "Bearer " + token() }; }
  function say(text, bad) {
    var s = document.getElementById("status");
    s.textContent = text;
    s.className = "toast show" + (bad ? " bad" : "");
    clearTimeout(say.timer);
    say.timer = setTimeout(function () { s.className = "toast"; }, 6000);
  }
  function fragmentOf(pathname, search) {
    return "/ui" + (pathname === "/" ? "/overview" : pathname) + (search || "");
  }

  document.addEventListener("htmx:configRequest", function (e) {
    if (token()) { e.detail.headers["Authorization"] = "Bearer " + token(); }
  });
  document.addEventListener("htmx:beforeRequest", function () { view.setAttribute("aria-busy", "true"); });
  document.addEventListener("htmx:afterSettle", function () { view.setAttribute("aria-busy", "false"); settle(); });
  document.addEventListener("htmx:responseError", function (e) {
    if (e.detail.xhr.status === 401) { signOut("Your key was refused; sign in again."); return; }
    view.innerHTML = e.detail.xhr.responseText;
  });

  function showSignin(message) {
    document.getElementById("signin").hidden = false;
    document.getElementById("signin-error").textContent = message || "";
    document.getElementById("signout").hidden = true;
    view.innerHTML = "";
    loadIssuers();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN);
    stopStreams();
    document.getElementById("whoami").textContent = "";
    showSignin(message);
  }

  function load() {
    if (!token()) { showSignin(); return; }
    document.getElementById("signin").hidden = true;
    document.getElementById("signout").hidden = false;
    stopStreams();
    htmx.ajax("GET", fragmentOf(location.pathname, location.search), { target: "#view", swap: "innerHTML" });
  }

  function settle() {
    var me = view.querySelector("meta[name=ph-me]") || document.querySelector("meta[name=ph-me]");
    if (me) {
      document.getElementById("whoami").textContent = me.dataset.id + " (" + me.dataset.role + ")";
      var admin = me.dataset.admin === "1";
      document.getElementById("nav-keys").hidden = !admin;
      document.getElementById("nav-audit").hidden = !admin;
    }
    var h1 = view.querySelector("h1");
    document.title = (h1 ? h1.textContent.trim() + " · " : "") + "Pilothouse";
    stopStreams();
    view.querySelectorAll("[data-live]").forEach(follow);
  }

  // -- live parts: server-sent events (read with fetch, so the bearer token goes in a header), or
  //    polling with If-None-Match where the gateway answers /ui/stream with 404.
  function stopStreams() { streams.forEach(function (s) { s.stop = true; if (s.abort) { s.abort.abort(); } }); streams = []; }
  function replace(el, html) {
    if (document.querySelector("dialog[open]") || el.contains(document.activeElement) && document.activeElement.tagName !== "BUTTON" && document.activeElement !== document.body) {
      return false; // never pull the form out from under the user; the next update brings it
    }
    el.innerHTML = html;
    htmx.process(el);
    return true;
  }
  function follow(el) {
    var s = { el: el, url: el.dataset.live, etag: null, stop: false, abort: new AbortController() };
    streams.push(s);
    fetch("/ui/stream?path=" + encodeURIComponent(s.url), { headers: auth(), signal: s.abort.signal })
      .then(function (r) {
        if (!r.ok || !r.body) { poll(s); return; }
        el.dataset.mode = "sse";
        var reader = r.body.getReader(), decoder = new TextDecoder(), buffer = "";
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done || s.stop) { if (!s.stop) { setTimeout(function () { if (!s.stop) { follow(el); } }, 2000); } return; }
            buffer += decoder.decode(chunk.value, { stream: true });
            var at;
            while ((at = buffer.indexOf("\n\n")) >= 0) {
              var block = buffer.slice(0, at); buffer = buffer.slice(at + 2);
              var data = block.split("\n").filter(function (l) { return l.indexOf("data:") === 0; })
                .map(function (l) { return l.slice(5).replace(/^ /, ""); }).join("\n");
              if (block.indexOf("event: fragment") >= 0) { replace(el, data); }
            }
            return pump();
          });
        }
        return pump();
      })
      .catch(function () { if (!s.stop) { poll(s); } });
  }
  function poll(s) {
    s.el.dataset.mode = "poll";
    function tick() {
      if (s.stop) { return; }
      var headers = auth();
      if (s.etag) { headers["If-None-Match"] = s.etag; }
      fetch(s.url, { headers: headers }).then(function (r) {
        if (r.status === 200) {
          var etag = r.headers.get("ETag");
          return r.text().then(function (html) { if (replace(s.el, html)) { s.etag = etag; } });
        }
      }).finally(function () { if (!s.stop) { setTimeout(tick, 2000); } });
    }
    setTimeout(tick, 2000);
  }

  // -- countdowns of bakes
  setInterval(function () {
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.max(0, Math.round(parseFloat(el.dataset.until) - Date.now() / 1000));
      el.textContent = left > 0 ? left + " s left" : "ending…";
    });
  }, 1000);

  // -- actions: every button and form calls the API operation itself, after a confirm dialog
  var dialog = document.getElementById("confirm");
  var pending = null;
  function ask(spec) {
    pending = spec;
    document.getElementById("confirm-title").textContent = spec.label + "?";
    document.getElementById("confirm-text").textContent = spec.what;
    document.getElementById("confirm-reason-box").hidden = !spec.reason;
    document.getElementById("confirm-reason").value = "";
    document.getElementById("confirm-ok").textContent = spec.label;
    dialog.showModal();
    (spec.reason ? document.getElementById("confirm-reason") : document.getElementById("confirm-cancel")).focus();
  }
  document.getElementById("confirm-cancel").addEventListener("click", function () { pending = null; dialog.close(); });
  document.getElementById("confirm-form").addEventListener("submit", function () {
    var spec = pending; pending = null;
    if (!spec) { return; }
    var reason = document.getElementById("confirm-reason").value.trim();
    if (spec.reason && reason) {
      spec.body = spec.body || {};
      spec.body[spec.method === "POST" && spec.url.indexOf("/approve") > 0 ? "comment" : "reason"] = reason;
    }
    var headers = auth();
    headers["Idempotency-Key"] = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2));
    if (spec.breakGlass) { headers["Break-Glass"] = reason || "break-glass rollback from the dashboard"; }
    var init = { method: spec.method, headers: headers };
    if (spec.method !== "DELETE") { headers["Content-Type"] = "application/json"; init.body = JSON.stringify(spec.body || {}); }
    fetch(spec.url, init).then(function (r) {
      return r.text().then(function (text) {
        var data = null; try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        if (!r.ok) {
          say(spec.label + " failed (" + r.status + "): " + ((data && (data.detail || data.title)) || text), true);
          return;
        }
        say(spec.label + ": done");
        if (spec.secret && data && data[spec.secret]) {
          document.getElementById("secret-value").textContent = data[spec.secret];
          document.getElementById("secret").showModal();
        }
        if (spec.go === "execution" && data && (data.name || data.id)) {
          history.pushState({}, "", location.pathname.replace(/\/$/, "") + "/executions/" + encodeURIComponent(data.name || data.id));
        }
        load();
      });
    }).catch(function (e) { say(spec.label + " failed: " + e, true); });
  });
  document.getElementById("secret").addEventListener("close", function () { document.getElementById("secret-value").textContent = ""; });

  document.addEventListener("click", function (e) {
    var b = e.target.closest("button.action");
    if (!b) { return; }
    ask({ label: b.dataset.label, what: b.dataset.confirm, method: b.dataset.method, url: b.dataset.url,
      reason: !!b.dataset.reason, breakGlass: !!b.dataset.breakGlass, body: b.dataset.body ? JSON.parse(b.dataset.body) : null });
  });
  document.addEventListener("submit", function (e) {
    var f = e.target.closest("form.api-form");
    if (!f) { return; }
    e.preventDefault();
    var body = {};
    try {
      f.querySelectorAll("input[name], select[name], textarea[name]").forEach(function (field) {
        if (field.value.trim() === "" && (field.dataset.type !== "json" || field.dataset.optional)) { return; }
        if (field.dataset.type === "number") { body[field.name] = Number(field.value); }
        else if (field.dataset.type === "json") { body[field.name] = JSON.parse(field.value || "null"); }
        else { body[field.name] = field.value; }
      });
    } catch (err) { say("The input is not valid JSON: " + err.message, true); return; }
    ask({ label: f.dataset.label, what: f.dataset.confirm, method: f.dataset.method, url: f.dataset.url,
      body: body, secret: f.dataset.secret, go: f.dataset.go });
  });

  // -- links inside the app load fragments without a full reload (a real link still works)
  document.addEventListener("click", function (e) {
    var a = e.target.closest("a[href^='/']");
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || a.target) { return; }
    e.preventDefault();
    history.pushState({}, "", a.getAttribute("href"));
    load();
    view.focus();
  });
  window.addEventListener("popstate", load);

  // -- sign-in: an API key, or OIDC authorization code + PKCE
  document.getElementById("signin-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("api-key");
    sessionStorage.setItem(TOKEN, input.value.trim());
    input.value = "";
    load();
  });
  document.getElementById("signout").addEventListener("click", function () { signOut("Signed out."); });

  function b64url(bytes) {
    return btoa(String.fromCharCode.apply(null, new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function discover(issuer) {
    return fetch(issuer.replace(/\/$/, "") + "/.well-known/openid-configuration").then(function (r) { return r.json(); });
  }
  function loadIssuers() {
    fetch("/ui/oidc").then(function (r) { return r.json(); }).then(function (doc) {
      var list = document.getElementById("oidc-issuers");
      list.textContent = "";
      (doc.issuers || []).forEach(function (i) {
        var li = document.createElement("li"), b = document.createElement("button");
        b.type = "button"; b.textContent = "Sign in with " + i.issuer;
        b.addEventListener("click", function () { startOidc(i); });
        li.appendChild(b); list.appendChild(li);
      });
      document.getElementById("oidc-signin").hidden = !(doc.issuers || []).length;
    }).catch(function () {});
  }
  function startOidc(i) {
    var verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    var state = b64url(crypto.getRandomValues(new Uint8Array(16)));
    crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
      return discover(i.issuer).then(function (doc) {
        sessionStorage.setItem("pilothouse.oidc", JSON.stringify({ verifier: verifier, state: state, issuer: i.issuer,
          client_id: i.client_id, token_endpoint: doc.token_endpoint, back: location.pathname }));
        var q = new URLSearchParams({ response_type: "code", client_id: i.client_id, redirect_uri: location.origin + "/callback",
          scope: "openid profile email", state: state, code_challenge: b64url(digest), code_challenge_method: "S256" });
        location.assign(doc.authorization_endpoint + "?" + q.toString());
      });
    }).catch(function (e) { document.getElementById("signin-error").textContent = "Cannot reach the issuer: " + e; });
  }
  function finishOidc() {
    var params = new URLSearchParams(location.search);
    var saved = JSON.parse(sessionStorage.getItem("pilothouse.oidc") || "null");
    sessionStorage.removeItem("pilothouse.oidc");
    history.replaceState({}, "", (saved && saved.back) || "/");
    if (!saved || params.get("state") !== saved.state || !params.get("code")) {
      showSignin(params.get("error_description") || "The sign-in did not complete; try again."); return;
    }
    var form = new URLSearchParams({ grant_type: "authorization_code", code: params.get("code"), client_id: saved.client_id,
      redirect_uri: location.origin + "/callback", code_verifier: saved.verifier });
    fetch(saved.token_endpoint, { method: "POST", body: form }).then(function (r) { return r.json(); }).then(function (t) {
      var bearer = t.id_token || t.access_token;
      if (!bearer) { showSignin(t.error_description || "The issuer gave no token."); return; }
      sessionStorage.setItem(TOKEN, bearer);
      load();
    }).catch(function (e) { showSignin("The token exchange failed: " + e); });
  }

  if (location.pathname === "/callback") { finishOidc(); } else { load(); }
})();
