it('probe', async () => {
  let r: unknown;
  try { r = Object.keys(require('dependency-cruiser')); } catch (e) { r = 'require failed: ' + (e as Error).message; }
  console.log(r);
  try { const m = await import('dependency-cruiser'); r = Object.keys(m); } catch (e) { r = 'import failed: ' + (e as Error).message; }
  console.log(r);
});
