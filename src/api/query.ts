// Query parameters as Docker reads them.

/**
 * Docker's boolean query values (httputils.BoolValue): absent, "", "0", "no", "false" and "none"
 * (any case, trimmed) are false; anything else is true: force=True, force=1, force=yes.
 */
export function dockerBool(value: string | null): boolean {
  const s = (value ?? '').trim().toLowerCase();
  return !(s === '' || s === '0' || s === 'no' || s === 'false' || s === 'none');
}
