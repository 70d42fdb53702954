// CNI's error result (SPEC.md "Error"): a well-known code, a message naming the bad value, details.
/** The spec's well-known codes; 100 and above are this plugin's own. */
export const CNI_CODES = {
  incompatibleVersion: 1,
  unsupportedField: 2,
  unknownContainer: 3,
  invalidEnv: 4,
  ioFailure: 5,
  decodeFailure: 6,
  invalidConfig: 7,
  tryAgainLater: 11,
  /** STATUS: the plugin cannot serve ADDs now (its network is missing, its store does not open) */
  notAvailable: 50,
  /** ADD of an attachment that exists already (same container id and interface name) */
  alreadyAttached: 100,
  /** CHECK found the attachment drifted from what ADD made */
  checkFailed: 101,
  /** an unexpected failure of berth itself */
  internal: 999,
} as const;

export class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
  }
}
