export async function renderMaintenance(app, main) { main.textContent = 'Maintenance'; }
