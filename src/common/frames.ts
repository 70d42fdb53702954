// The thin client's answer format (native/berth-client.c reads it): frames "<tag> <length>\n<bytes>",
// one after the other. Tags: 1 stdout, 2 stderr, x exit status, r run (token NUL detach NUL
// container id NUL shim argv…), e exec (argv NUL-separated), l run locally.
export class Frames {
  private parts: Buffer[] = [];
  add(tag: string, data: string | Uint8Array = ''): void {
    const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
    this.parts.push(Buffer.from(`${tag} ${bytes.length}\n`), bytes);
  }
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}
