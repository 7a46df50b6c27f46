// order-web's one script (no library, nothing fetched from elsewhere). Each page says what it
// is in <body data-page>; the ids it uses are listed in order_service/storefront.py.
//
// - The cart lives in this tab's sessionStorage: {sku: {name, priceCents, maxQuantity, quantity}}.
//   priceCents is the price the catalog showed: checkout sends it (unit_price_cents), and the
//   order API rejects the order (price_changed) rather than charge another.
// - Checkout sends the cart with an Idempotency-Key made once for that exact request (cart,
//   email, card) and kept in sessionStorage until an order exists: a double click, or a retry
//   after a network error, sends the same key, and the order API places one order.
// - The order page opens /ws/orders/{id}?after=<last seq shown>, adds each step once (by seq),
//   and reconnects by itself with exponential backoff and jitter (at most 10 s).
"use strict";

(function () {
  const CART = "shop.cart";
  const CHECKOUT = "shop.checkout";

  function load(name, fallback) {
    try {
      return JSON.parse(sessionStorage.getItem(name)) || fallback;
    } catch (error) {
      return fallback;
    }
  }

  function save(name, value) {
    sessionStorage.setItem(name, JSON.stringify(value));
  }

  function euros(cents) {
    return (cents / 100).toFixed(2) + " €";
  }

  function randomKey() {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // --- the cart -------------------------------------------------------------------------

  function renderCart(cart) {
    const skus = Object.keys(cart);
    const count = skus.reduce((sum, sku) => sum + cart[sku].quantity, 0);
    const total = skus.reduce((sum, sku) => sum + cart[sku].quantity * cart[sku].priceCents, 0);
    document.querySelectorAll("[data-cart-count]").forEach((el) => { el.textContent = String(count); });
    const box = document.getElementById("cart");
    if (box) box.dataset.count = String(count);
    document.querySelectorAll("[data-cart-total]").forEach((el) => { el.textContent = euros(total); });
    document.querySelectorAll("[data-cart-empty]").forEach((el) => { el.hidden = count > 0; });
    document.querySelectorAll("[data-cart-lines]").forEach((list) => {
      list.replaceChildren();
      for (const sku of skus) {
        const line = cart[sku];
        const item = document.createElement("li");
        item.dataset.sku = sku;
        item.dataset.quantity = String(line.quantity);
        item.append(`${line.quantity} × ${line.name} (${euros(line.priceCents)}) `);
        const remove = document.createElement("button");
        remove.type = "button";
        remove.className = "secondary";
        remove.id = "remove-" + sku;
        remove.textContent = "Remove one";
        remove.setAttribute("aria-label", `Remove one ${line.name}`);
        remove.addEventListener("click", () => changeCart(sku, -1));
        item.append(remove);
        list.append(item);
      }
    });
    const button = document.getElementById("checkout-button");
    if (button) button.disabled = count === 0;
  }

  function changeCart(sku, delta, product) {
    const cart = load(CART, {});
    const line = cart[sku] || (product && { ...product, quantity: 0 });
    if (!line) return;
    // The catalog shows availability in words, not counts: the order API's most per line
    // bounds the cart, and the inventory's reserve decides (a cart from before: `available`).
    line.quantity = Math.max(0, Math.min(line.quantity + delta, line.maxQuantity || line.available));
    if (line.quantity === 0) delete cart[sku];
    else cart[sku] = line;
    save(CART, cart);
    renderCart(cart);
    const announce = document.querySelector("[data-cart-announce]");
    if (announce) announce.textContent = `${line.name}: ${line.quantity} in your cart`;
  }

  function catalogPage() {
    document.querySelectorAll("button.add").forEach((button) => {
      button.addEventListener("click", () => {
        const d = button.dataset;
        changeCart(d.sku, 1, { name: d.name, priceCents: Number(d.priceCents), maxQuantity: Number(d.maxQuantity) });
      });
    });
  }

  // --- checkout -------------------------------------------------------------------------

  function checkoutPage() {
    const form = document.getElementById("checkout-form");
    const button = document.getElementById("checkout-button");
    const error = document.getElementById("checkout-error");
    const status = document.querySelector("[data-checkout-status]");
    let sending = false;

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (sending) return; // a double click: the first press is on its way
      const cart = load(CART, {});
      const items = Object.keys(cart).sort().map(
        (sku) => ({ sku, quantity: cart[sku].quantity, unit_price_cents: cart[sku].priceCents }),
      );
      const body = {
        email: form.elements.email.value.trim(),
        payment_token: form.elements.payment_token.value,
        items,
      };
      if (!items.length) return;
      // One key per request: the same cart, email and card reuse it until an order exists.
      const request = JSON.stringify(body);
      let checkout = load(CHECKOUT, null);
      if (!checkout || checkout.request !== request) {
        checkout = { key: randomKey(), request };
        save(CHECKOUT, checkout);
      }
      sending = true;
      button.disabled = true;
      error.textContent = "";
      status.textContent = "Placing your order…";
      try {
        const response = await fetch(form.action, {
          method: "POST",
          headers: { "Content-Type": "application/json", "Idempotency-Key": checkout.key },
          body: request,
        });
        const answer = await response.json().catch(() => ({}));
        if (answer.order_id) {
          // An order exists (whatever its outcome): the key is spent, the cart is ordered.
          sessionStorage.removeItem(CHECKOUT);
          sessionStorage.removeItem(CART);
          window.location.assign(answer.url);
          return;
        }
        if (answer.code === "idempotency-key-reused") sessionStorage.removeItem(CHECKOUT);
        showError(answer.title || "The order could not be placed. Try again.");
      } catch (failure) {
        // No answer: the order may or may not exist. The same key goes with the retry.
        showError("No answer from the shop (network). Press Place order again: the same order is never placed twice.");
      } finally {
        sending = false;
        button.disabled = Object.keys(load(CART, {})).length === 0;
        status.textContent = "";
      }
    });

    function showError(text) {
      error.textContent = text;
      error.focus();
    }
  }

  // --- the order page: its live timeline ------------------------------------------------

  function orderPage() {
    const timeline = document.getElementById("timeline");
    const orderStatus = document.getElementById("order-status");
    const live = document.getElementById("live-status");
    const cancelForm = document.getElementById("cancel-form");
    const labels = JSON.parse(timeline.dataset.kindLabels || "{}");
    const cancellable = (cancelForm.dataset.cancellable || "").split(" ");
    const orderId = timeline.dataset.orderId;
    let last = Number(timeline.dataset.lastSeq || 0);
    let attempt = 0;
    let socket = null;
    let retry = null;

    function label(kind) {
      if (labels[kind]) return labels[kind];
      if (kind.startsWith("email.")) return "Email sent: " + kind.slice(6).replace(/_/g, " ");
      return kind.replace(/_/g, " ");
    }

    function setLive(state, text) {
      live.dataset.state = state;
      live.textContent = text;
    }

    function add(step) {
      if (step.seq <= last || timeline.querySelector(`li[data-seq="${step.seq}"]`)) return; // seen
      const item = document.createElement("li");
      item.dataset.seq = String(step.seq);
      item.dataset.kind = step.kind;
      item.dataset.status = step.status;
      const at = document.createElement("time");
      at.dateTime = step.at;
      at.textContent = new Date(step.at).toISOString().slice(11, 19);
      const what = document.createElement("span");
      what.className = "what";
      what.textContent = label(step.kind);
      item.append(at, what);
      if (step.reason) {
        item.dataset.reason = step.reason;
        const reason = document.createElement("span");
        reason.className = "reason";
        reason.textContent = ` (${step.reason.replace(/_/g, " ")})`;
        item.append(reason);
      }
      timeline.append(item);
      last = step.seq;
      timeline.dataset.lastSeq = String(last);
      orderStatus.textContent = step.status;
      orderStatus.dataset.status = step.status;
      cancelForm.hidden = !cancellable.includes(step.status);
    }

    function connect() {
      retry = null;
      const scheme = window.location.protocol === "https:" ? "wss" : "ws";
      const url = `${scheme}://${window.location.host}/ws/orders/${encodeURIComponent(orderId)}?after=${last}`;
      const opened = Date.now();
      socket = new WebSocket(url);
      socket.addEventListener("open", () => setLive("live", "Live: new steps show as they happen"));
      socket.addEventListener("message", (event) => {
        attempt = 0;
        add(JSON.parse(event.data));
      });
      socket.addEventListener("close", () => {
        socket = null;
        if (Date.now() - opened > 5000) attempt = 0; // it had worked: start over from a short wait
        // Exponential backoff with jitter: 0.5 s, 1 s, 2 s ... at most 10 s, each between half and all of it.
        const delay = Math.min(10000, 500 * 2 ** attempt) * (0.5 + Math.random() / 2);
        attempt += 1;
        setLive("reconnecting", `Reconnecting in ${Math.ceil(delay / 1000)} s…`);
        retry = window.setTimeout(connect, delay);
      });
    }

    window.addEventListener("online", () => {
      if (retry !== null) {
        window.clearTimeout(retry);
        connect();
      }
    });
    connect();
  }

  document.addEventListener("DOMContentLoaded", () => {
    renderCart(load(CART, {}));
    const page = document.body.dataset.page;
    if (page === "catalog") catalogPage();
    if (page === "checkout") checkoutPage();
    if (page === "order") orderPage();
  });
})();
