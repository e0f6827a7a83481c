//! Properties over random input: parsers never panic, and decode → encode → decode is stable.

use proptest::prelude::*;
use tlv::Tag;

use crate::dictionary::{self, Sensitivity};
use crate::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..max)
}

proptest! {
    #[test]
    fn bit_fields_round_trip(b in bytes(8)) {
        macro_rules! check {
            ($($t:ty),*) => {$(
                if let Ok(v) = <$t>::from_bytes(&b) {
                    prop_assert_eq!(&v.to_bytes()[..], &b[..]);
                    let _ = v.describe();
                    let _ = v.to_string();
                } else {
                    prop_assert!(b.len() != <$t>::LEN || stringify!($t) == "VisaCvr");
                }
            )*};
        }
        check!(Aip, Tvr, Tsi, Ttq, Ctq, VisaCvr, MchipCvr);
    }

    #[test]
    fn small_elements_never_panic(b in bytes(5)) {
        if let Ok(c) = Cid::from_bytes(&b) {
            prop_assert_eq!(&c.to_bytes()[..], &b[..]);
            let _ = c.describe();
        }
        if let Ok(r) = CvmResults::from_bytes(&b) {
            prop_assert_eq!(&r.to_bytes()[..], &b[..]);
            let _ = r.describe();
        }
        if let Ok(t) = TransactionType::from_bytes(&b) {
            prop_assert_eq!(&t.to_bytes()[..], &b[..]);
        }
    }

    #[test]
    fn afl_round_trips(b in bytes(300)) {
        if let Ok(afl) = Afl::from_bytes(&b) {
            prop_assert_eq!(afl.to_bytes(), b);
            let _ = afl.describe();
            for e in afl.entries() {
                let again = AflEntry::new(e.sfi(), e.first_record(), e.last_record(), e.oda_records());
                prop_assert_eq!(again, Ok(*e));
            }
        }
    }

    #[test]
    fn afl_of_valid_entries_parses(entries in proptest::collection::vec(
        (1u8..=30, 1u8..=255, 0u8..=255, 0u8..=255), 0..20)
    ) {
        let mut b = Vec::new();
        for (sfi, first, extra, oda) in entries {
            let last = first.saturating_add(extra % 8);
            let count = u16::from(last) - u16::from(first) + 1;
            let oda = u8::try_from(u16::from(oda) % (count + 1)).unwrap();
            b.extend_from_slice(&[sfi << 3, first, last, oda]);
        }
        let afl = Afl::from_bytes(&b).unwrap();
        prop_assert_eq!(afl.to_bytes(), b);
    }

    #[test]
    fn cvm_list_is_stable(b in bytes(300)) {
        if let Ok(list) = CvmList::from_bytes(&b) {
            let encoded = list.to_bytes();
            prop_assert_eq!(encoded.len(), b.len());
            prop_assert_eq!(CvmList::from_bytes(&encoded), Ok(list.clone()));
            let _ = list.describe();
        }
    }

    #[test]
    fn iad_never_panics(b in bytes(40)) {
        if let Ok(iad) = Iad::from_bytes(&b) {
            prop_assert_eq!(iad.as_bytes(), &b[..]);
            prop_assert_eq!(Iad::from_bytes(iad.as_bytes()), Ok(iad.clone()));
            let _ = (iad.cvn(), iad.dki(), iad.cvr_bytes(), iad.idd(), iad.counters());
            let _ = iad.describe();
        }
    }

    #[test]
    fn visa_iad_builder_round_trips(dki in any::<u8>(), cvn in prop_oneof![0x00u8..0x20, 0x30u8..0x40],
                                     cvr in any::<[u8; 3]>(), idd in bytes(25)) {
        let cvr = VisaCvr::from_array([0x03, cvr[0], cvr[1], cvr[2]]);
        match Iad::visa(dki, Cvn(cvn), cvr, &idd) {
            Ok(iad) => {
                prop_assert_eq!(iad.dki(), Some(dki));
                prop_assert_eq!(iad.cvn(), Some(Cvn(cvn)));
                prop_assert_eq!(iad.visa_cvr(), Some(cvr));
                if idd.is_empty() {
                    prop_assert_eq!(iad.idd(), None);
                } else {
                    prop_assert_eq!(iad.idd(), Some(&idd[..]));
                }
            }
            Err(_) => prop_assert!(idd.len() > Iad::VISA_IDD_MAX_LEN),
        }
    }

    #[test]
    fn mchip_iad_builder_round_trips(dki in any::<u8>(), cvn in prop_oneof![Just(0x10u8), Just(0x11), Just(0x14), Just(0x15)],
                                      cvr in any::<[u8; 6]>(), dac in any::<[u8; 2]>(), counters in any::<[u8; 8]>()) {
        let cvr = MchipCvr::from_array(cvr);
        match Iad::mchip(dki, Cvn(cvn), cvr, dac, counters) {
            Ok(iad) => {
                prop_assert_eq!(iad.format(), IadFormat::Mchip);
                prop_assert_eq!(iad.mchip_cvr(), Some(cvr));
                prop_assert_eq!(iad.mchip_dac_idn(), Some(dac));
                prop_assert_eq!(iad.counters(), Some(&counters[..]));
                prop_assert_eq!(Iad::from_bytes(iad.as_bytes()), Ok(iad.clone()));
            }
            Err(e) => prop_assert!(matches!(e.kind, EmvErrorKind::Ambiguous { .. }), "{}", e),
        }
    }

    #[test]
    fn trace_never_panics_on_random_bytes(b in bytes(200)) {
        if let Ok(lines) = describe_tlv(&b) {
            for l in lines {
                let _ = l.to_string();
            }
        }
    }

    #[test]
    fn trace_decodes_every_known_tag(index in 0usize..1000, value in bytes(40)) {
        let rows = dictionary::all();
        let row = &rows[index % rows.len()];
        let encoded = tlv::encode(row.tag, &value);
        if row.tag.is_constructed() {
            // Random children may not be valid TLV; only the absence of panics matters.
            let _ = describe_tlv(&encoded);
        } else {
            let lines = describe_tlv(&encoded).unwrap();
            prop_assert_eq!(lines.len(), 1);
            let text = lines[0].to_string();
            if row.sensitivity != Sensitivity::Public && value.len() >= 8 {
                prop_assert!(!text.contains(&hex(&value)), "{}", text);
            }
        }
    }

    #[test]
    fn pans_never_show_in_full(digits in proptest::collection::vec(0u8..10, 12..=19)) {
        let mut nibbles: Vec<u8> = digits.clone();
        if nibbles.len() % 2 == 1 {
            nibbles.push(0x0F);
        }
        let pan: Vec<u8> = nibbles.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
        let pan_text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
        let mut track2 = nibbles.clone();
        track2.truncate(digits.len());
        track2.extend_from_slice(&[0x0D, 2, 5, 1, 2, 2, 0, 1, 0x0F]);
        if track2.len() % 2 == 1 {
            track2.push(0x0F);
        }
        let track2: Vec<u8> = track2.chunks(2).map(|p| (p[0] << 4) | p[1]).collect();
        let mut b = tlv::Builder::new();
        b.template(Tag(0x70), |r| {
            r.put(Tag(0x5A), &pan).put(Tag(0x57), &track2).put(Tag(0x9F6B), &track2);
        });
        let text = trace::trace_text(&b.finish()).unwrap();
        prop_assert!(!text.contains(&pan_text), "{}", text);
        // At most the first 6 and last 4 digits are shown.
        let middle = &pan_text[6..pan_text.len() - 4];
        prop_assert!(!text.contains(&format!("{}{}", &pan_text[..6], middle)), "{}", text);
    }
}
