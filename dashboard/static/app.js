// Dashboard client: live updates by server-sent events, suggestion box, test chat.
// No inline scripts anywhere (the Content-Security-Policy forbids them); all text is set with
// textContent, and HTML fragments come from the server's autoescaped templates.
(function () {
  "use strict";
  var csrf = document.body.getAttribute("data-csrf") || "";

  function $(sel) { return document.querySelector(sel); }

  function fetchHTML(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (r.status === 401) { window.location.href = "/login"; throw new Error("logged out"); }
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r.text();
      });
  }

  var refreshing = false, again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    var jobs = [];
    var queue = $("#queue");
    if (queue) {
      jobs.push(fetchHTML(queue.getAttribute("data-src") + window.location.search).then(function (html) {
        queue.innerHTML = html;
      }));
    }
    var conv = $(".conv");
    var box = $("#messages");
    if (conv && box) {
      jobs.push(fetchHTML(conv.getAttribute("data-messages")).then(function (html) {
        var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
        box.innerHTML = html;
        if (atBottom) { window.scrollTo(0, document.body.scrollHeight); }
      }));
    }
    Promise.all(jobs).catch(function () {}).then(function () {
      refreshing = false;
      if (again) { again = false; refresh(); }
    });
  }

  function showCrises(crises) {
    var alertBox = $("#crisis-alert");
    if (!alertBox || !crises || !crises.length) { return; }
    alertBox.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = "Crisis: ";
    alertBox.appendChild(strong);
    crises.forEach(function (c, i) {
      var a = document.createElement("a");
      a.href = "/c/" + encodeURIComponent(c.sender_id);
      a.textContent = c.sender_id + " (" + c.category + ")";
      if (i) { alertBox.appendChild(document.createTextNode(", ")); }
      alertBox.appendChild(a);
    });
    alertBox.hidden = false;
    if (document.title.indexOf("CRISIS") !== 0) { document.title = "CRISIS · " + document.title; }
  }

  function minutes(seconds) {
    var m = Math.floor((seconds || 0) / 60);
    return m < 60 ? m + " min" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function showOverdue(items) {
    var alertBox = $("#overdue-alert");
    if (!alertBox || !items || !items.length) { return; }
    alertBox.textContent = "";
    var strong = document.createElement("strong");
    strong.textContent = "Waiting too long for a person: ";
    alertBox.appendChild(strong);
    items.forEach(function (c, i) {
      var a = document.createElement("a");
      a.href = "/c/" + encodeURIComponent(c.sender_id);
      a.textContent = c.sender_id + " (" + minutes(c.waited_s) + (c.category ? ", crisis: " + c.category : "") + ")";
      if (i) { alertBox.appendChild(document.createTextNode(", ")); }
      alertBox.appendChild(a);
    });
    alertBox.hidden = false;
  }

  function connect() {
    if (!csrf || !window.EventSource) { return; }
    var status = $("#live-status");
    var es = new EventSource("/events");
    es.addEventListener("hello", function () { if (status) { status.textContent = "Live updates: on"; } });
    es.addEventListener("update", function (ev) {
      var msg = {};
      try { msg = JSON.parse(ev.data); } catch (e) { /* ignore */ }
      showCrises(msg.crises);
      showOverdue(msg.overdue);
      refresh();
    });
    // waiting times grow without any event: redraw them every minute
    if ($("#queue")) { setInterval(refresh, 60000); }
    es.onerror = function () { if (status) { status.textContent = "Live updates: reconnecting…"; } };
  }

  function suggestions() {
    document.querySelectorAll(".use-suggestion").forEach(function (btn) {
      btn.addEventListener("click", function () {
        var box = $("#reply-text");
        if (!box) { return; }
        box.value = btn.getAttribute("data-text");
        var id = $("#suggestion-id");
        if (id) { id.value = btn.getAttribute("data-id"); }
        box.focus();
      });
    });
  }

  // --- test chat -----------------------------------------------------------------------------
  function tryChat() {
    var form = $("#try-form");
    if (!form) { return; }
    var log = $("#try-log"), input = $("#try-input"), err = $("#try-error");
    var lastId = 0;

    function add(kind, text, buttons) {
      var li = document.createElement("li");
      li.className = "msg " + kind;
      var meta = document.createElement("div");
      meta.className = "meta";
      meta.textContent = kind === "user" ? "you" : (kind === "worker" ? "outreach worker" : "bot");
      var body = document.createElement("div");
      body.className = "text";
      body.textContent = text;
      li.appendChild(meta);
      li.appendChild(body);
      if (buttons && buttons.length) {
        var row = document.createElement("div");
        row.className = "buttons";
        buttons.forEach(function (b) {
          var btn = document.createElement("button");
          btn.type = "button";
          btn.textContent = b.title;
          btn.addEventListener("click", function () { send(b.payload, b.title); });
          row.appendChild(btn);
        });
        li.appendChild(row);
      }
      log.appendChild(li);
      li.scrollIntoView({ block: "end" });
    }

    function send(message, shown) {
      err.hidden = true;
      add("user", shown || message);
      return fetch("/try/send", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
        body: JSON.stringify({ message: message })
      }).then(function (r) { return r.json().then(function (d) { return [r.ok, d]; }); })
        .then(function (res) {
          if (!res[0]) { throw new Error(res[1].error || "The bot did not answer."); }
          res[1].replies.forEach(function (rep) { add("bot", rep.text, rep.buttons); });
        }).catch(function (e) { err.textContent = e.message; err.hidden = false; });
    }

    function poll() {
      fetch("/try/poll?after=" + lastId, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (d) {
          if (!d) { return; }
          if (lastId > 0) { d.messages.forEach(function (m) { add("worker", m.text); }); }
          else { d.messages.forEach(function (m) { add("worker", m.text); }); }
          lastId = d.last_id;
        }).catch(function () {}).then(function () { setTimeout(poll, 1500); });
    }

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var text = input.value.trim();
      if (!text) { return; }
      input.value = "";
      send(text);
    });
    poll();
  }

  document.addEventListener("DOMContentLoaded", function () {
    connect();
    suggestions();
    tryChat();
  });
})();
