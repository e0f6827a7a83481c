//! The human-readable trace of `tapwallet tap`: every APDU with its TLVs decoded and named,
//! PANs and track data masked.

use apdu::{CommandApdu, ResponseApdu};
use emv_kernel::{ArpcCheck, Cvm, Exchange, IssuerResponse, Outcome};

/// Prints each command and response.
pub(crate) fn print_exchanges(exchanges: &[Exchange]) {
    for e in exchanges {
        // Commands carry terminal data only (no PAN): safe to print raw.
        println!("-> {:<24} {}", e.name, hex::encode_upper(&e.command));
        if let Ok(cmd) = CommandApdu::decode(&e.command)
            && !cmd.data.is_empty()
        {
            print_tlv(&cmd.data, "     ");
        }
        match ResponseApdu::decode(&e.response) {
            Ok(rsp) => {
                println!("<- {} ({} bytes of data)", rsp.sw, rsp.data.len());
                if !rsp.data.is_empty() {
                    print_tlv(&rsp.data, "     ");
                }
            }
            Err(_) => println!("<- malformed response ({} bytes)", e.response.len()),
        }
    }
}

fn print_tlv(data: &[u8], indent: &str) {
    match emv::describe_tlv(data) {
        Ok(lines) => {
            for line in lines {
                println!("{indent}{line}");
            }
        }
        // A DF name (SELECT) is shown as text; other non-TLV data only by its length.
        Err(_) if data.iter().all(|b| b.is_ascii_graphic()) => {
            println!("{indent}\"{}\"", String::from_utf8_lossy(data));
        }
        Err(_) => println!("{indent}({} bytes)", data.len()),
    }
}

/// Prints a kernel outcome in plain words.
pub(crate) fn print_outcome(outcome: &Outcome) {
    println!();
    match outcome {
        Outcome::OnlineRequest(r) => {
            println!(
                "OUTCOME: online request (ARQC) via kernel {}",
                r.kernel.number()
            );
            println!(
                "  card   {} PSN {:02X}  {}",
                r.card.pan.masked(),
                r.card.psn.unwrap_or(0),
                r.card.label.as_deref().unwrap_or("")
            );
            println!("  CVM    {}", cvm_text(r.cvm));
            println!("  authorization data (DE 55):");
            for (tag, value) in r.data.elements() {
                let name = emv::lookup(*tag).map_or("", |i| i.name);
                println!(
                    "    {:<6} {name:<42} {}",
                    tag.to_string(),
                    hex::encode_upper(value)
                );
            }
        }
        Outcome::ApprovedOffline(r) => println!(
            "OUTCOME: approved offline (TC), card {}",
            r.card.pan.masked()
        ),
        Outcome::Declined(_) => println!("OUTCOME: declined by the card (AAC)"),
        Outcome::SeePhone => {
            println!(
                "OUTCOME: see phone: the holder must authenticate on the device, then tap again"
            )
        }
        Outcome::TryAnotherInterface(reason) => {
            println!("OUTCOME: try another interface: {reason}")
        }
        Outcome::EndApplication(reason) => println!("OUTCOME: end application: {reason}"),
        Outcome::Completed(c) => {
            let arpc = match c.arpc {
                ArpcCheck::NotSent => "no ARPC sent".to_owned(),
                ArpcCheck::Accepted => "card accepted the ARPC".to_owned(),
                ArpcCheck::Rejected(sw) => format!("card REJECTED the ARPC ({sw})"),
            };
            let verdict = if c.approved { "APPROVED" } else { "DECLINED" };
            println!(
                "RESULT: {verdict} (response code {}), {arpc}",
                String::from_utf8_lossy(&c.arc)
            );
        }
    }
}

/// Prints the in-process issuer's verdict.
pub(crate) fn print_issuer(arqc_verified: bool, response: &IssuerResponse) {
    println!();
    let check = if arqc_verified {
        "ARQC verified"
    } else {
        "ARQC did NOT verify"
    };
    println!(
        "ISSUER: {check}; response code {}; issuer authentication data (91) {}",
        String::from_utf8_lossy(&response.arc),
        response
            .issuer_authentication_data
            .as_ref()
            .map(hex::encode_upper)
            .unwrap_or_default()
    );
}

fn cvm_text(cvm: Cvm) -> &'static str {
    match cvm {
        Cvm::ConsumerDevice => "consumer device CVM (holder authenticated on the phone)",
        Cvm::NoCvm => "no CVM (within the CVM limit)",
        Cvm::OnlinePin => "online PIN",
        Cvm::Signature => "signature",
    }
}
