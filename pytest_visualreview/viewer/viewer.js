/* pytest-visualreview image viewer.
 *
 * Works on markup rendered by pytest_visualreview.viewer.viewer_html(): every `.vr-viewer`
 * holds four panes (side, overlay, slider, diff) and a toolbar. The mode and zoom are page-wide
 * (a reviewer compares many snapshots the same way); opacity and slider position are per viewer.
 * Snapshots are `.vr-item` elements; keys move between them. Pages add their own keys (the
 * review server binds approve/reject) with VisualReview.bindKey(). Plain ES5-ish JS, no build.
 */
(function () {
  "use strict";

  var MODES = ["side", "overlay", "slider", "diff"];
  var state = { mode: "side", zoom: "fit" };
  var extraKeys = {};

  function each(list, fn) {
    Array.prototype.forEach.call(list, fn);
  }

  function viewers() {
    return document.querySelectorAll(".vr-viewer");
  }

  function available(viewer) {
    return (viewer.getAttribute("data-modes") || "side").split(" ");
  }

  function naturalWidth(img) {
    return img.naturalWidth || parseInt(img.getAttribute("width") || "0", 10) || 0;
  }

  /* Read phase of a layout: the width every image of the visible pane should get, at one scale
   * so expected and actual line up. Reads only (no DOM writes), so measuring many viewers costs
   * one browser layout, not one per viewer. Null for a viewer that is not rendered (inside a
   * closed <details>): it is laid out when it is opened. */
  function measure(viewer) {
    var mode = viewer.getAttribute("data-mode");
    var pane = viewer.querySelector('.vr-pane[data-pane="' + mode + '"]');
    var stage = viewer.querySelector(".vr-stage");
    if (!pane || !stage || stage.clientWidth === 0) return null;
    var imgs = pane.querySelectorAll("img");
    var widest = 0;
    each(imgs, function (img) {
      widest = Math.max(widest, naturalWidth(img));
    });
    var scale = 1;
    if (state.zoom === "fit" && widest > 0) {
      var style = window.getComputedStyle(stage);
      var avail = stage.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      if (mode === "side") {
        var n = pane.querySelectorAll(".vr-figure").length || 1;
        avail = (avail - 12 * (n - 1)) / n; /* 0.75rem gap between figures */
      }
      scale = Math.min(1, Math.max(avail, 16) / widest);
    }
    var widths = [];
    each(imgs, function (img) {
      widths.push([img, naturalWidth(img) * scale]);
    });
    return { viewer: viewer, scale: scale, widths: widths };
  }

  /* Write phase: apply what measure() decided. */
  function apply(plan) {
    if (!plan) return;
    plan.viewer.setAttribute("data-scale", String(plan.scale));
    plan.widths.forEach(function (pair) {
      if (pair[1] > 0) pair[0].style.width = pair[1] + "px";
    });
  }

  /* Lay out many viewers: all reads first, then all writes (no layout thrashing). */
  function layoutAll(list) {
    var plans = [];
    each(list, function (viewer) {
      plans.push(measure(viewer));
    });
    plans.forEach(apply);
  }

  function layout(viewer) {
    apply(measure(viewer));
  }

  /* Mode, zoom and button states: DOM writes only (layoutAll follows). */
  function setState(viewer) {
    var modes = available(viewer);
    var mode = modes.indexOf(state.mode) >= 0 ? state.mode : modes[0];
    viewer.setAttribute("data-mode", mode);
    viewer.setAttribute("data-zoom", state.zoom);
    each(viewer.querySelectorAll("[data-vr-mode]"), function (button) {
      var m = button.getAttribute("data-vr-mode");
      button.disabled = modes.indexOf(m) < 0;
      button.setAttribute("aria-pressed", String(m === mode));
    });
    each(viewer.querySelectorAll("[data-vr-zoom]"), function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-vr-zoom") === state.zoom));
    });
  }

  function applyAll() {
    var list = viewers();
    each(list, setState);
    layoutAll(list);
  }

  function setMode(mode) {
    if (MODES.indexOf(mode) < 0) throw new Error("unknown viewer mode: " + mode);
    state.mode = mode;
    applyAll();
  }

  function setZoom(zoom) {
    if (zoom !== "fit" && zoom !== "100") throw new Error("unknown zoom: " + zoom);
    state.zoom = zoom;
    applyAll();
  }

  function setSplit(viewer, percent) {
    var p = Math.max(0, Math.min(100, percent));
    var stack = viewer.querySelector('.vr-pane[data-pane="slider"] .vr-stack');
    if (!stack) return;
    stack.style.setProperty("--vr-split", p + "%");
    var handle = stack.querySelector(".vr-handle");
    if (handle) handle.setAttribute("aria-valuenow", String(Math.round(p)));
  }

  function setOpacity(viewer, percent) {
    var p = Math.max(0, Math.min(100, percent));
    var stack = viewer.querySelector('.vr-pane[data-pane="overlay"] .vr-stack');
    if (stack) stack.style.setProperty("--vr-opacity", String(p / 100));
  }

  function initSlider(viewer) {
    var stack = viewer.querySelector('.vr-pane[data-pane="slider"] .vr-stack');
    if (!stack) return;
    function fromEvent(event) {
      var rect = stack.getBoundingClientRect();
      if (rect.width > 0) setSplit(viewer, ((event.clientX - rect.left) / rect.width) * 100);
    }
    stack.addEventListener("pointerdown", function (event) {
      if (event.button !== 0) return;
      stack.setPointerCapture(event.pointerId);
      stack.setAttribute("data-dragging", "");
      fromEvent(event);
      event.preventDefault();
    });
    stack.addEventListener("pointermove", function (event) {
      if (stack.hasAttribute("data-dragging")) fromEvent(event);
    });
    function stop(event) {
      stack.removeAttribute("data-dragging");
      if (stack.hasPointerCapture(event.pointerId)) stack.releasePointerCapture(event.pointerId);
    }
    stack.addEventListener("pointerup", stop);
    stack.addEventListener("pointercancel", stop);
    var handle = stack.querySelector(".vr-handle");
    if (handle) {
      handle.addEventListener("keydown", function (event) {
        var now = parseFloat(handle.getAttribute("aria-valuenow") || "50");
        var step = event.shiftKey ? 10 : 2;
        if (event.key === "ArrowLeft") setSplit(viewer, now - step);
        else if (event.key === "ArrowRight") setSplit(viewer, now + step);
        else return;
        event.preventDefault();
        event.stopPropagation();
      });
    }
  }

  function initViewer(viewer) {
    if (viewer.hasAttribute("data-vr-ready")) return;
    viewer.setAttribute("data-vr-ready", "");
    each(viewer.querySelectorAll("[data-vr-mode]"), function (button) {
      button.addEventListener("click", function () {
        select(viewer.closest(".vr-item"), false);
        setMode(button.getAttribute("data-vr-mode"));
      });
    });
    each(viewer.querySelectorAll("[data-vr-zoom]"), function (button) {
      button.addEventListener("click", function () {
        setZoom(button.getAttribute("data-vr-zoom"));
      });
    });
    var opacity = viewer.querySelector(".vr-opacity input");
    if (opacity) {
      opacity.addEventListener("input", function () {
        setOpacity(viewer, parseFloat(opacity.value));
      });
      setOpacity(viewer, parseFloat(opacity.value));
    }
    initSlider(viewer);
    each(viewer.querySelectorAll("img"), function (img) {
      img.addEventListener("load", function () {
        layout(viewer);
      });
    });
    setState(viewer);
  }

  /* Items the keyboard can reach: not inside a collapsed <details>. */
  function items() {
    var out = [];
    each(document.querySelectorAll(".vr-item"), function (item) {
      var closed = item.parentElement && item.parentElement.closest("details:not([open])");
      if (!closed) out.push(item);
    });
    return out;
  }

  function current() {
    return document.querySelector(".vr-item.vr-current");
  }

  function select(item, scroll) {
    if (!item) return null;
    var previous = current();
    if (previous && previous !== item) {
      previous.classList.remove("vr-current");
      previous.removeAttribute("aria-current");
    }
    item.classList.add("vr-current");
    item.setAttribute("aria-current", "true");
    if (scroll !== false) item.scrollIntoView({ block: "start" });
    item.dispatchEvent(new CustomEvent("vr:select", { bubbles: true }));
    return item;
  }

  function move(delta) {
    var list = items();
    if (!list.length) return null;
    var index = list.indexOf(current());
    var next = index < 0 ? (delta > 0 ? 0 : list.length - 1) : index + delta;
    next = Math.max(0, Math.min(list.length - 1, next));
    return select(list[next]);
  }

  function cycleMode() {
    setMode(MODES[(MODES.indexOf(state.mode) + 1) % MODES.length]);
  }

  var KEYS = {
    j: function () { move(1); },
    n: function () { move(1); },
    k: function () { move(-1); },
    p: function () { move(-1); },
    "1": function () { setMode("side"); },
    "2": function () { setMode("overlay"); },
    "3": function () { setMode("slider"); },
    "4": function () { setMode("diff"); },
    m: cycleMode,
    z: function () { setZoom(state.zoom === "fit" ? "100" : "fit"); },
  };

  /* Keys go to text fields; a slider or a button keeps the viewer's shortcuts working. */
  function typing(target) {
    if (!target || !target.tagName) return false;
    if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
      return true;
    }
    if (target.tagName !== "INPUT") return false;
    var type = (target.getAttribute("type") || "text").toLowerCase();
    return ["range", "checkbox", "radio", "button", "submit", "reset", "hidden"].indexOf(type) < 0;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) return;
    var key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    var handler = extraKeys[key] || KEYS[key];
    if (!handler) return;
    event.preventDefault();
    handler(current());
  }

  /* A page's own key: fn(currentItem) runs when `key` is pressed outside form fields. */
  function bindKey(key, fn) {
    extraKeys[key.toLowerCase()] = fn;
  }

  function init(root) {
    var initial = document.documentElement.getAttribute("data-vr-mode");
    if (initial && MODES.indexOf(initial) >= 0 && !init.done) state.mode = initial;
    var fresh = (root || document).querySelectorAll(".vr-viewer");
    each(fresh, initViewer);
    layoutAll(fresh);
    if (!init.done) {
      init.done = true;
      document.addEventListener("keydown", onKey);
      document.addEventListener("click", function (event) {
        var item = event.target.closest && event.target.closest(".vr-item");
        if (item && item !== current()) select(item, false);
      });
      /* Viewers in a <details> were not rendered at load: lay them out when it opens. */
      document.addEventListener(
        "toggle",
        function (event) {
          if (event.target.open) layoutAll(event.target.querySelectorAll(".vr-viewer"));
        },
        true
      );
      var pending = false;
      window.addEventListener("resize", function () {
        if (pending) return;
        pending = true;
        window.requestAnimationFrame(function () {
          pending = false;
          layoutAll(viewers());
        });
      });
    }
  }

  window.VisualReview = {
    modes: MODES.slice(),
    init: init,
    setMode: setMode,
    setZoom: setZoom,
    setSplit: setSplit,
    setOpacity: setOpacity,
    next: function () { return move(1); },
    previous: function () { return move(-1); },
    select: select,
    current: current,
    items: items,
    bindKey: bindKey,
    state: function () { return { mode: state.mode, zoom: state.zoom }; },
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { init(); });
  } else {
    init();
  }
})();
