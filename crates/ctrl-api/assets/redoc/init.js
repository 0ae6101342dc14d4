// Loads the API document into ReDoc; a separate file so the page needs no inline script.
Redoc.init("/openapi.json", { hideDownloadButton: false }, document.getElementById("redoc-container"));
