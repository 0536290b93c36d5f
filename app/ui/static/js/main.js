// The dashboard's entry: the API-key field and the two pages, by the URL's #fragment
// (#/ the models, #/models/ID one model).

import { apiKey, setApiKey } from "./api.js";
import { modelView } from "./model_view.js";
import { modelsView } from "./models_view.js";
import { clearNotice } from "./notice.js";

let current = null;

function route() {
  current?.abort();
  current = new AbortController();
  clearNotice();
  const root = document.getElementById("page");
  const match = location.hash.match(/^#\/models\/([^/?#]+)/);
  document.title = "relearn";
  if (match) modelView(root, decodeURIComponent(match[1]), current.signal);
  else modelsView(root, current.signal);
}

function keyForm() {
  const form = document.getElementById("key-form");
  const input = document.getElementById("api-key");
  const state = document.getElementById("key-state");
  const showState = () => { state.textContent = apiKey() ? "key saved" : "no key"; };
  input.value = apiKey();
  showState();
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(input.value.trim());
    showState();
    route();
  });
  document.getElementById("key-clear").addEventListener("click", () => {
    input.value = "";
    setApiKey("");
    showState();
    route();
  });
}

keyForm();
window.addEventListener("hashchange", route);
route();
