import PDFDocument from 'pdfkit';
import type { OrderEventPayload } from '../orders/contract.ts';

const money = (cents: number, currency: string) => `${(cents / 100).toFixed(2)} ${currency}`;

/** Renders an order's invoice as a PDF. Deterministic apart from the creation date pdfkit stamps. */
export function renderInvoice(order: OrderEventPayload, issuedAt = new Date()): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const doc = new PDFDocument({ size: 'A4', margin: 50, info: { Title: `Invoice ${order.orderId}`, Author: 'Scalemart', CreationDate: issuedAt } });
    const chunks: Buffer[] = [];
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);

    doc.fontSize(20).text('Scalemart', { continued: false }).moveDown(0.5);
    doc.fontSize(14).text(`Invoice for order ${order.orderId}`);
    doc.fontSize(10).text(`Issued ${issuedAt.toISOString().slice(0, 10)}`).moveDown();
    const a = order.shippingAddress;
    doc.text(`Bill to: ${order.customerName} <${order.customerEmail}>`);
    doc.text([a.name, a.line1, a.line2, `${a.postalCode} ${a.city}`, a.country].filter(Boolean).join(', ')).moveDown();
    for (const line of order.items) {
      doc.text(`${line.quantity} × ${line.name} (${line.sku}) @ ${money(line.unitPrice, order.currency)} = ${money(line.unitPrice * line.quantity, order.currency)}`);
    }
    doc.moveDown().fontSize(12).text(`Total: ${money(order.total, order.currency)}`);
    if (order.trackingNumber) doc.fontSize(10).text(`Tracking number: ${order.trackingNumber}`);
    doc.end();
  });
}
