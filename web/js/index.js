// The start page: the settings form, open, with each function's health.
import { settingsPanel } from "./settings.js";

settingsPanel(document.getElementById("settings-panel"));
document.querySelector("details.settings").open = true;
document.body.dataset.ready = "true"; // the page's modules loaded (the browser tests wait for it)
