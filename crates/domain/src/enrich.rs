//! Merchant enrichment for transaction history: a clean merchant name, a category from the
//! merchant category code (MCC, ISO 18245), and the city and country, from what an
//! authorization carries (DE 18 and DE 43).
//!
//! DE 43 (ISO 8583:1987, ans 40) is positional: merchant name in characters 1-23, city in
//! 24-36, then a region (37-38) and the ISO 3166 alpha-2 country (39-40). Acquirers that send
//! no region send 38 characters, with the country in 37-38; anything else is read by splitting
//! on runs of spaces. Names arrive upper-case, padded, often with a payment facilitator's
//! prefix (`SQ *`, `PAYPAL *`) or a store number (`#1234`): [`clean_name`] removes those and
//! title-cases what remains.

/// A spending category, from the MCC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// Airlines, rail, taxis, transit, tolls, parking.
    Transport,
    /// Hotels and lodging.
    Lodging,
    /// Car rental.
    CarRental,
    /// Telecom, utilities, cable.
    Utilities,
    /// Grocery stores, supermarkets, convenience stores, bakeries.
    Groceries,
    /// Fuel stations.
    Fuel,
    /// Restaurants, cafés, bars, fast food.
    FoodAndDrink,
    /// Department stores, clothing, electronics, general retail.
    Shopping,
    /// Digital goods, apps, games, streaming.
    DigitalGoods,
    /// Pharmacies, doctors, dentists, hospitals.
    Health,
    /// Cinemas, theatres, sports, recreation.
    Entertainment,
    /// Cash withdrawals and financial services.
    Cash,
    /// Government services, taxes, fines.
    Government,
    /// Everything else.
    Other,
}

impl Category {
    /// The category's name as shown in history and sent over the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Transport => "transport",
            Self::Lodging => "lodging",
            Self::CarRental => "car_rental",
            Self::Utilities => "utilities",
            Self::Groceries => "groceries",
            Self::Fuel => "fuel",
            Self::FoodAndDrink => "food_and_drink",
            Self::Shopping => "shopping",
            Self::DigitalGoods => "digital_goods",
            Self::Health => "health",
            Self::Entertainment => "entertainment",
            Self::Cash => "cash",
            Self::Government => "government",
            Self::Other => "other",
        }
    }
}

/// MCC ranges and their categories, as data: the first range holding the code wins, so exact
/// codes come before the broad ranges around them. Sources: ISO 18245 and the card schemes'
/// published MCC lists (airline 3000-3350, car rental 3351-3500, lodging 3501-3999 blocks).
const MCC_CATEGORIES: &[(u16, u16, Category)] = &[
    (3000, 3350, Category::Transport),
    (3351, 3500, Category::CarRental),
    (3501, 3999, Category::Lodging),
    (4011, 4789, Category::Transport),
    (4812, 4816, Category::Utilities),
    (4821, 4829, Category::Cash),
    (4899, 4900, Category::Utilities),
    (5411, 5411, Category::Groceries),
    (5422, 5422, Category::Groceries),
    (5441, 5462, Category::Groceries),
    (5499, 5499, Category::Groceries),
    (5541, 5542, Category::Fuel),
    (5811, 5814, Category::FoodAndDrink),
    (5815, 5818, Category::DigitalGoods),
    (5912, 5912, Category::Health),
    (5200, 5999, Category::Shopping),
    (6010, 6012, Category::Cash),
    (6051, 6051, Category::Cash),
    (7011, 7011, Category::Lodging),
    (7512, 7519, Category::CarRental),
    (7523, 7523, Category::Transport),
    (7832, 7841, Category::Entertainment),
    (7911, 7999, Category::Entertainment),
    (8011, 8099, Category::Health),
    (9211, 9402, Category::Government),
];

/// The category of a merchant category code (four ASCII digits); [`Category::Other`] when the
/// code is unknown or malformed.
pub fn category(mcc: &str) -> Category {
    let Ok(code) = mcc.trim().parse::<u16>() else {
        return Category::Other;
    };
    if mcc.trim().len() != 4 {
        return Category::Other;
    }
    MCC_CATEGORIES
        .iter()
        .find(|(low, high, _)| (*low..=*high).contains(&code))
        .map_or(Category::Other, |(_, _, c)| *c)
}

/// A merchant as history shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    /// Cleaned, title-cased name ("Tapwallet Cafe").
    pub name: String,
    /// Title-cased city, if given.
    pub city: Option<String>,
    /// ISO 3166 alpha-2 country, upper-case, if given.
    pub country: Option<String>,
    /// Spending category from the MCC.
    pub category: Category,
    /// The MCC as received.
    pub mcc: String,
}

/// Enriches an authorization's merchant data: DE 43 (name and location) and DE 18 (MCC).
pub fn enrich(name_location: &str, mcc: &str) -> Merchant {
    let (name, city, country) = split_name_location(name_location);
    Merchant {
        name: clean_name(&name),
        city: city.map(|c| title_case(&c)).filter(|c| !c.is_empty()),
        country,
        category: category(mcc),
        mcc: mcc.trim().to_owned(),
    }
}

fn is_country(s: &str) -> bool {
    s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic())
}

/// Name, city and country from DE 43 (see the module docs for the layouts).
fn split_name_location(de43: &str) -> (String, Option<String>, Option<String>) {
    let chars: Vec<char> = de43.chars().collect();
    let take = |from: usize, to: usize| -> String {
        chars
            .get(from..to.min(chars.len()))
            .map(|s| s.iter().collect::<String>().trim().to_owned())
            .unwrap_or_default()
    };
    let positional_country = match chars.len() {
        40 => Some(take(38, 40)),
        38 => Some(take(36, 38)),
        _ => None,
    };
    if let Some(country) = positional_country.filter(|c| is_country(c)) {
        let city = take(23, 36);
        return (
            take(0, 23),
            Some(city).filter(|c| !c.is_empty()),
            Some(country.to_ascii_uppercase()),
        );
    }
    // Free form: runs of two or more spaces separate name, city and country.
    let parts: Vec<&str> = de43
        .split("  ")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        [] => (String::new(), None, None),
        [name] => ((*name).to_owned(), None, None),
        [name, rest @ ..] => {
            let (country, places) = match rest.split_last() {
                Some((last, before)) if is_country(last) => {
                    (Some(last.to_ascii_uppercase()), before)
                }
                _ => (None, rest),
            };
            let city = places.first().map(|c| (*c).to_owned());
            ((*name).to_owned(), city, country)
        }
    }
}

/// Payment-facilitator prefixes that precede the real merchant name ("SQ *COFFEE BAR").
const FACILITATOR_PREFIXES: &[&str] = &[
    "SQ *", "SQ*", "PAYPAL *", "PP*", "TST* ", "TST*", "SP * ", "SP *",
];

/// A readable merchant name: facilitator prefix and store number removed, spaces collapsed,
/// title case ("SQ *BLUE BOTTLE #123" -> "Blue Bottle").
pub fn clean_name(raw: &str) -> String {
    let mut name = raw.trim();
    for prefix in FACILITATOR_PREFIXES {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest.trim_start();
            break;
        }
    }
    let words: Vec<&str> = name
        .split_whitespace()
        .filter(|w| !(w.starts_with('#') && w[1..].bytes().all(|b| b.is_ascii_digit())))
        .collect();
    title_case(&words.join(" "))
}

/// Title case, word by word ("TAPWALLET CAFE" -> "Tapwallet Cafe").
fn title_case(s: &str) -> String {
    s.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first
                    .to_uppercase()
                    .chain(chars.flat_map(char::to_lowercase))
                    .collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<String>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_merchant_reads_right() {
        let m = enrich("TAPWALLET CAFE         PARIS        FR", "5814");
        assert_eq!(m.name, "Tapwallet Cafe");
        assert_eq!(m.city.as_deref(), Some("Paris"));
        assert_eq!(m.country.as_deref(), Some("FR"));
        assert_eq!(m.category, Category::FoodAndDrink);
    }

    #[test]
    fn forty_character_de43_with_region() {
        let de43 = format!(
            "{:<23}{:<13}{:<2}{}",
            "SQ *BLUE BOTTLE #123", "OAKLAND", "CA", "US"
        );
        assert_eq!(de43.len(), 40);
        let m = enrich(&de43, "5812");
        assert_eq!(m.name, "Blue Bottle");
        assert_eq!(m.city.as_deref(), Some("Oakland"));
        assert_eq!(m.country.as_deref(), Some("US"));
    }

    #[test]
    fn free_form_and_degenerate_input() {
        let m = enrich("CORNER SHOP  LYON  FR", "5411");
        assert_eq!(
            (m.name.as_str(), m.city.as_deref()),
            ("Corner Shop", Some("Lyon"))
        );
        assert_eq!(m.category, Category::Groceries);
        let m = enrich("", "");
        assert_eq!((m.name.as_str(), m.city, m.country), ("", None, None));
        assert_eq!(m.category, Category::Other);
        // Not ASCII, odd lengths: never a panic.
        let m = enrich("CAFÉ ÉTOILE   ", "58x4");
        assert_eq!(m.name, "Café Étoile");
        assert_eq!(m.category, Category::Other);
    }

    #[test]
    fn categories_follow_the_table() {
        for (mcc, c) in [
            ("3001", Category::Transport),
            ("3400", Category::CarRental),
            ("3700", Category::Lodging),
            ("4121", Category::Transport),
            ("4814", Category::Utilities),
            ("5411", Category::Groceries),
            ("5542", Category::Fuel),
            ("5732", Category::Shopping),
            ("5815", Category::DigitalGoods),
            ("5912", Category::Health),
            ("6011", Category::Cash),
            ("7011", Category::Lodging),
            ("7832", Category::Entertainment),
            ("8021", Category::Health),
            ("9311", Category::Government),
            ("0742", Category::Other),
            ("12345", Category::Other),
        ] {
            assert_eq!(category(mcc), c, "{mcc}");
        }
    }
}
