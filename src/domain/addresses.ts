import { BlockList, isIP } from 'node:net';

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is `10.0.0.1`. */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export function isLoopback(address: string): boolean {
  const a = plainAddress(address);
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/** The address part of a gRPC peer string (`10.0.0.1:5000`, `::1:5000`, `[::1]:5000`). */
export function addressOfPeer(peer: string): string {
  const withoutPort = peer.replace(/:\d+$/, '');
  return plainAddress(withoutPort.replace(/^\[(.*)\]$/, '$1'));
}

/** A set of addresses and CIDRs (`10.0.0.0/8`, `fd00::/8`, `192.168.1.7`). */
export class AddressList {
  private readonly list = new BlockList();

  constructor(readonly entries: readonly string[]) {
    for (const entry of entries) {
      const [ip, bits] = entry.split('/');
      const family = isIP(ip!) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(ip!, family);
      else this.list.addSubnet(ip!, Number(bits), family);
    }
  }

  has(address: string): boolean {
    const a = plainAddress(address);
    const family = isIP(a);
    return family !== 0 && this.list.check(a, family === 6 ? 'ipv6' : 'ipv4');
  }
}
