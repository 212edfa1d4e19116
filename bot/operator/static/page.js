// The page's live part, asked for every two seconds; not while a person types in it.
(function () {
  const live = document.getElementById("live");
  async function refresh() {
    const typing = document.activeElement && document.activeElement.tagName === "INPUT"
      && document.activeElement.value;
    if (!typing) {
      try {
        const r = await fetch("/live", {credentials: "same-origin"});
        if (r.ok) live.innerHTML = await r.text();
      } catch (e) { /* the bot is restarting: the next look tries again */ }
    }
    setTimeout(refresh, 2000);
  }
  setTimeout(refresh, 2000);
})();
